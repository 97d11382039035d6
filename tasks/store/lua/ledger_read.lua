-- KEYS: done-marker, job state, stream. Reads only. {known, deliveries, attempts,
-- conference id, command id, enqueued_at, outcome entry id or '', outcome json or '',
-- first_attempt_at, answered_at, offset, skew, format, channels, region, name_state,
-- resolved_id, principal, batch, labels, retry_of, retried_as}.
local id = redis.call('GET', KEYS[1]) or ''
local s = redis.call('HMGET', KEYS[2], 'deliveries', 'attempts', 'conference_id',
  'command_id', 'enqueued_at', 'first_attempt_at', 'answered_at', 'offset', 'skew', 'format',
  'channels', 'region', 'name_state', 'resolved_id', 'principal', 'batch', 'labels',
  'retry_of', 'retried_as')
local known = (id ~= '' or redis.call('EXISTS', KEYS[2]) == 1) and '1' or '0'
local json = ''
if id ~= '' then
  local entry = redis.call('XRANGE', KEYS[3], id, id)[1]
  if entry then
    for i = 1, #entry[2], 2 do
      if entry[2][i] == 'outcome' then json = entry[2][i + 1] end
    end
  end
end
local reply = {known, s[1] or '0', s[2] or '0', s[3] or '', s[4] or '', s[5] or '', id, json}
for i = 6, 19 do reply[#reply + 1] = s[i] or '' end
return reply

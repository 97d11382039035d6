-- uses: batch
-- KEYS: the recording-states dirty set, the recording-states stream, G guard keys (a
-- conference's facts, jobs' states: hashes whose field v each fact-changing step
-- HINCRBYs), [the followers set of the original a duplicate joins,] then the state of each
-- job counted. ARGV: dirty member, ttl, maxlen, retention ms, G, the duplicate that joins
-- the followers set ('' = none), the G versions the states were computed at ('' = none
-- yet), then per job counted: job id, conference id, recording state, reason.
-- Applies the states only if no guard's version moved since they were computed (else
-- -1, nothing written, the member stays marked for the next try); then each change is
-- moved between its batch's lists (batch_recording) and appended to the stream, and the
-- member is unmarked. Returns how many states changed.
local g = tonumber(ARGV[5])
for i = 1, g do
  if (redis.call('HGET', KEYS[2 + i], 'v') or '') ~= ARGV[6 + i] then return -1 end
end
local k = 3 + g
if ARGV[6] ~= '' then
  redis.call('SADD', KEYS[k], ARGV[6])
  redis.call('EXPIRE', KEYS[k], ARGV[2])
  k = k + 1
end
local a = 7 + g
local changed, last = 0, nil
for i = k, #KEYS do
  local job, conference, rec, reason = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  a = a + 4
  if batch_recording(KEYS[i], job, rec, ARGV[2]) == 1 then
    changed = changed + 1
    local f = redis.call('HMGET', KEYS[i], 'batch', 'principal', 'labels')
    last = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'job_id', job,
      'batch', f[1] or '', 'principal', f[2] or '', 'conference_id', conference,
      'state', rec, 'reason', reason, 'labels', f[3] or '')
  end
end
if last then
  redis.call('XTRIM', KEYS[2], 'MINID', '~',
    string.format('%.0f-0', tonumber(string.match(last, '^%d+')) - tonumber(ARGV[4])))
end
redis.call('SREM', KEYS[1], ARGV[1])
return changed

-- KEYS: the conference's recordings, the recordings stream, the conference's facts, the
-- recording-states dirty set. ARGV: ttl, maxlen, recording id, recording json, event json,
-- source, conference id, job id ("" = none), command id, cap, dirty member. The entry id,
-- or false when the recording was stored before — by a webhook or by reconciliation,
-- whichever came first — or the conference holds the cap already.
if redis.call('HEXISTS', KEYS[1], ARGV[3]) == 1 then return false end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[10]) then return false end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[1])
-- A fact changed: its jobs' recording states are to be counted again (recording_counts).
redis.call('HINCRBY', KEYS[3], 'v', 1)
redis.call('EXPIRE', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[11])
local fields = {'event', ARGV[5], 'recording', ARGV[4], 'recording_id', ARGV[3],
  'conference_id', ARGV[7], 'source', ARGV[6]}
if ARGV[8] ~= '' then
  fields[11], fields[12], fields[13], fields[14] = 'job_id', ARGV[8], 'command_id', ARGV[9]
end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))

-- KEYS: seen marker, stream[, the job's recordings list]. ARGV: ttl, maxlen, event json,
-- job id, command id, per-job cap. The entry id, or false when the event was seen before.
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return false end
local fields = {'event', ARGV[3]}
if ARGV[4] ~= '' then
  fields[3], fields[4], fields[5], fields[6] = 'job_id', ARGV[4], 'command_id', ARGV[5]
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
if #KEYS == 3 then
  redis.call('RPUSH', KEYS[3], ARGV[3])
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[6]), -1)
  redis.call('EXPIRE', KEYS[3], ARGV[1])
end
return id

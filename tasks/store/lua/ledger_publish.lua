-- KEYS: done-marker, stream, command marker. ARGV: job id, ttl, maxlen, outcome json,
-- status, "1" if the command succeeded (remembered so a re-run cannot send it again).
-- The done-marker holds the outcome's entry id, so the outcome can be read back.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*',
  'outcome', ARGV[4], 'job_id', ARGV[1], 'status', ARGV[5])
redis.call('SET', KEYS[1], id, 'EX', ARGV[2])
if ARGV[6] == '1' then
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
end
return id

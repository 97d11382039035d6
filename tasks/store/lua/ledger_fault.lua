-- KEYS: done-marker, job state. ARGV: ttl. false when the job already has its outcome;
-- else {faulty deliveries so far (this one counted), attempts sent so far}.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local n = redis.call('HINCRBY', KEYS[2], 'faults', 1)
redis.call('EXPIRE', KEYS[2], ARGV[1])
return {n, redis.call('HGET', KEYS[2], 'attempts') or '0'}

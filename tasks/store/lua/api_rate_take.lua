-- uses: refill
-- A principal's enqueue of ARGV[3] jobs from its bucket KEYS[1] (rate ARGV[1] jobs/s,
-- burst ARGV[2]). Admitted when the bucket holds min(jobs, burst) tokens: it then takes
-- all of them, going into debt for a bulk larger than the burst, so the rate holds on
-- average and no bulk is refused forever. Returns 0 (admitted), else the ms until it
-- would be. The bucket expires once it has refilled to full.
local rate, burst, jobs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, now = refill(KEYS[1], rate, burst)
local need = math.min(jobs, burst)
if tokens < need then return math.ceil((need - tokens) / rate * 1000) end
tokens = tokens - jobs
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return 0

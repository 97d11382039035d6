-- uses: refill
-- KEYS: the fleet's bucket. ARGV: rate, burst. One of the fleet's tokens, taken only when
-- the bucket holds more than half of its burst: reconciliation stays under the fleet-wide
-- limit and never takes a token a start is waiting for. {0, 0}: taken; {1, ms}: not yet.
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens, t = refill(KEYS[1], rate, burst)
local needed = 1 + (burst - 1) / 2
if tokens < needed then return {1, math.ceil((needed - tokens) / rate * 1000)} end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {0, 0}

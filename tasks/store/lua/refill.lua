-- Library: the bucket's tokens now, on Redis's clock:
-- what was stored plus what the rate has refilled since, capped at the burst (a bucket
-- that expired had refilled to full).
local function refill(bucket, rate, burst)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local state = redis.call('HMGET', bucket, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or now
  return math.min(burst, tokens + math.max(0, now - ts) * rate), now
end

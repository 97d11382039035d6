-- KEYS: registry (hash consumer -> queue). ARGV: alive-key prefix, in-flight-key prefix.
-- Moves each dead consumer's in-flight messages to the head of its queue; returns how many.
local moved = 0
local registry = redis.call('HGETALL', KEYS[1])
for i = 1, #registry, 2 do
  local consumer, queue = registry[i], registry[i + 1]
  if redis.call('EXISTS', ARGV[1] .. consumer) == 0 then
    local inflight = ARGV[2] .. consumer
    while redis.call('LMOVE', inflight, queue, 'RIGHT', 'RIGHT') do
      moved = moved + 1
    end
    redis.call('HDEL', KEYS[1], consumer)
  end
end
return moved

-- uses: refill
-- Library: an attempt's token from the fleet-wide bucket. take_from(bucket, pause, job
-- state, argv, i) reads take's six arguments from
-- argv[i] on, in the order FleetThrottle.request writes them (TakeRequest.args): rate
-- (tokens/s, "" = unlimited), burst, now, the longest wait the caller accepts (ms, "" =
-- any), "1" if the caller holds a reservation, and how many of the job's earlier attempts
-- are now known to have started nothing (429, 503, no connection; "" or absent = none),
-- added to the job's nothing_started when this attempt is recorded: so each attempt's
-- certainty lands in the step that lets the next one go (or in the outcome's).
-- Both throttle_take.lua and ledger_begin.lua call
-- it, so that order is written once on each side.
-- Returns {GO=0, 0}: send now (the attempt is recorded); {PAUSED=1, ms}: ask again then;
-- {RESERVED=2, ms}: a token is this caller's at that time (the bucket goes into debt, so
-- waiters are served in the order they asked: nobody loses the race every time);
-- {REFUSED=3, ms}: the next free token is further away than the caller can wait.
local function take(bucket, pause, state, rate, burst, now, budget, reserved, nothing)
  local function record()
    if nothing and nothing ~= '' and nothing ~= '0' then
      redis.call('HINCRBY', state, 'nothing_started', nothing)
    end
    redis.call('HINCRBY', state, 'attempts', 1)
    redis.call('HSET', state, 'last_attempt_at', now)
    redis.call('HSETNX', state, 'first_attempt_at', now)
    return {0, 0}
  end
  local paused = redis.call('PTTL', pause)
  if paused > 0 then return {1, paused} end
  if rate == '' or reserved == '1' then return record() end
  rate, burst = tonumber(rate), tonumber(burst)
  local tokens, t = refill(bucket, rate, burst)
  local wait = 0
  if tokens < 1 then
    wait = math.ceil((1 - tokens) / rate * 1000)
    if budget ~= '' and wait > tonumber(budget) then return {3, wait} end
  end
  tokens = tokens - 1
  redis.call('HSET', bucket, 'tokens', tostring(tokens), 'ts', tostring(t))
  redis.call('PEXPIRE', bucket, math.ceil((burst - tokens) / rate * 1000) + 1000)
  if wait == 0 then return record() end
  return {2, wait}
end

local function take_from(bucket, pause, state, argv, i)
  return take(bucket, pause, state, argv[i], argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4],
    argv[i + 5])
end

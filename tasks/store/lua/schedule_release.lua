-- KEYS: the schedule. ARGV: member, its lease end (as claimed), next due time ('' = done).
-- Still at its lease end: nobody touched it while leased, so it goes (or is due at next).
-- Otherwise something was scheduled meanwhile (a new job's start lowered it): that work
-- was not seen by this run, so the member stays, at the earlier of the two times.
-- 1 when the lease was intact, else 0.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  if ARGV[3] == '' then
    redis.call('ZREM', KEYS[1], ARGV[1])
  else
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  end
  return 1
end
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[1], 'LT', ARGV[3], ARGV[1]) end
return 0

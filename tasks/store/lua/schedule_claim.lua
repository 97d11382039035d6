-- KEYS: the schedule. ARGV: now, lease end, limit. The members due by now, each pushed to
-- the lease's end in the same step: no other reconciler takes it while this one works, and
-- if this one dies the member is due again when the lease ends. The lease end is exact
-- (the caller's), so release can tell whether anyone re-added the member meanwhile.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due

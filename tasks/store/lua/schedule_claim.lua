-- KEYS: the schedule. ARGV: now, lease (s), limit. The members due by now, each pushed to
-- now + lease in the same step: no other reconciler takes it while this one works, and
-- if this one dies the member is due again when the lease ends.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local until_at = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], until_at, member) end
return due

-- uses: take
-- KEYS: done-marker, job state, command marker, conference index, [bucket, pause].
-- ARGV: now, ttl, job id, conference id, command id, delivery limit ("" = none), then
-- take's five arguments (take.lua) or nothing. false when the job already has its
-- outcome; else what earlier deliveries left. The first delivery makes this job the one a
-- recording of its conference is matched to. With take's arguments, the first attempt's
-- token is asked in the same round trip, unless this delivery will not send: the command
-- already succeeded, or the delivery is past the limit.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
redis.call('HSETNX', KEYS[2], 'first_seen_at', ARGV[1])
redis.call('HSETNX', KEYS[2], 'conference_id', ARGV[4])
redis.call('HSETNX', KEYS[2], 'command_id', ARGV[5])
local n = redis.call('HINCRBY', KEYS[2], 'deliveries', 1)
local s = redis.call('HMGET', KEYS[2], 'first_seen_at', 'attempts', 'last_attempt_at')
redis.call('EXPIRE', KEYS[2], ARGV[2])
if n == 1 then redis.call('SET', KEYS[4], ARGV[3] .. ' ' .. ARGV[5], 'EX', ARGV[2]) end
local d = {n, s[1], s[2] or '', s[3] or '', redis.call('GET', KEYS[3]) or ''}
if #KEYS == 6 and d[5] == '' and (ARGV[6] == '' or n <= tonumber(ARGV[6]) + 1) then
  local t = take_from(KEYS[5], KEYS[6], KEYS[2], ARGV, 7)
  d[6], d[7] = t[1], t[2]
end
return d

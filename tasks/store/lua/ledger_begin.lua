-- uses: take, batch
-- KEYS: done-marker, job state, command marker, [bucket, pause].
-- ARGV: now, ttl, conference id, command id, delivery limit ("" = none), job id, then
-- take's six arguments (take.lua) or nothing. false when the job already has its
-- outcome; else what earlier deliveries left. With take's arguments, the first attempt's
-- token is asked in the same round trip, unless this delivery will not send: the command
-- already succeeded, or the delivery is past the limit. A job of a batch moves from its
-- queued list to running on its first delivery.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
redis.call('HSETNX', KEYS[2], 'first_seen_at', ARGV[1])
redis.call('HSETNX', KEYS[2], 'conference_id', ARGV[3])
redis.call('HSETNX', KEYS[2], 'command_id', ARGV[4])
local n = redis.call('HINCRBY', KEYS[2], 'deliveries', 1)
local s = redis.call('HMGET', KEYS[2], 'first_seen_at', 'attempts', 'last_attempt_at')
redis.call('EXPIRE', KEYS[2], ARGV[2])
batch_begun(KEYS[2], ARGV[6], ARGV[2])
local d = {n, s[1], s[2] or '', s[3] or '', redis.call('GET', KEYS[3]) or ''}
if #KEYS == 5 and d[5] == '' and (ARGV[5] == '' or n <= tonumber(ARGV[5]) + 1) then
  local t = take_from(KEYS[4], KEYS[5], KEYS[2], ARGV, 7)
  d[6], d[7] = t[1], t[2]
end
return d

-- KEYS: done-marker, stream, command marker[, job state, reconcile schedule[, conference
-- jobs]]. ARGV: job id, ttl, maxlen, outcome json, status, "1" if the command succeeded
-- (remembered so a re-run cannot send it again), retention ms (entries older than the
-- new one by this much are trimmed; MAXLEN too: whichever removes more); with the job
-- state, what its 2xx tells: answered_at, offset (Telnyx's clock minus ours), skew bound, format, channels, region,
-- schedule member, due at. The done-marker holds the outcome's entry id, so the outcome
-- can be read back. With the conference's jobs, the job joins the candidates of its
-- recordings in the same step as its outcome; without, its conference is a name to
-- resolve. Its window is first_attempt_at (recorded by take) .. answered_at.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*',
  'outcome', ARGV[4], 'job_id', ARGV[1], 'status', ARGV[5])
redis.call('XTRIM', KEYS[2], 'MINID', '~',
  string.format('%.0f-0', tonumber(string.match(id, '^%d+')) - tonumber(ARGV[7])))
redis.call('SET', KEYS[1], id, 'EX', ARGV[2])
if ARGV[6] == '1' then
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
end
if #KEYS >= 5 then
  redis.call('HSETNX', KEYS[4], 'first_attempt_at', ARGV[8])
  redis.call('HSET', KEYS[4], 'answered_at', ARGV[8], 'offset', ARGV[9], 'skew', ARGV[10],
    'format', ARGV[11], 'channels', ARGV[12], 'region', ARGV[13])
  redis.call('EXPIRE', KEYS[4], ARGV[2])
  redis.call('ZADD', KEYS[5], 'LT', ARGV[15], ARGV[14])
  if #KEYS == 6 then
    redis.call('SADD', KEYS[6], ARGV[1])
    redis.call('EXPIRE', KEYS[6], ARGV[2])
  else
    redis.call('HSET', KEYS[4], 'name_state', 'pending')
  end
end
return id

-- KEYS: done-marker, stream, command marker[, job state, reconcile schedule[, conference
-- jobs]]. ARGV: job id, ttl, maxlen, outcome json, status, "1" if the command succeeded
-- (remembered so a re-run cannot send it again); with the job state, what its 2xx tells:
-- answered_at, offset (Telnyx's clock minus ours), skew bound, format, channels, region,
-- schedule member, due at. The done-marker holds the outcome's entry id, so the outcome
-- can be read back. With the conference's jobs, the job joins the candidates of its
-- recordings, its window (first attempt .. 2xx, on Telnyx's clock, widened by the bound)
-- written in the same step as its outcome; without, its conference is a name to resolve.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*',
  'outcome', ARGV[4], 'job_id', ARGV[1], 'status', ARGV[5])
redis.call('SET', KEYS[1], id, 'EX', ARGV[2])
if ARGV[6] == '1' then
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
end
if #KEYS >= 5 then
  local answered, offset, bound = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
  local first = tonumber(redis.call('HGET', KEYS[4], 'first_attempt_at') or ARGV[7])
  local lo = string.format('%.3f', first + offset - bound)
  local hi = string.format('%.3f', answered + offset + bound)
  redis.call('HSET', KEYS[4], 'lo', lo, 'hi', hi, 'format', ARGV[10], 'channels', ARGV[11],
    'region', ARGV[12])
  redis.call('EXPIRE', KEYS[4], ARGV[2])
  redis.call('ZADD', KEYS[5], 'NX', ARGV[14], ARGV[13])
  if #KEYS == 6 then
    redis.call('HSET', KEYS[6], ARGV[1], cjson.encode({lo = lo, hi = hi, format = ARGV[10],
      channels = ARGV[11]}))
    redis.call('EXPIRE', KEYS[6], ARGV[2])
  else
    redis.call('HSET', KEYS[4], 'name_state', 'pending')
  end
end
return id

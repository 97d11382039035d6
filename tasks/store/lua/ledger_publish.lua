-- uses: batch
-- KEYS: done-marker, stream, command marker, job state[, reconcile schedule[, conference
-- jobs, conference recordings, conference facts]], recording-states dirty set (always
-- last). ARGV: job id, ttl, maxlen, outcome json, status, "1" if the command succeeded
-- (remembered so a re-run cannot send it again), retention ms (entries older than the
-- new one by this much are trimmed; MAXLEN too: whichever removes more), reason, "1" if
-- it sent nothing (duplicate_of), how many of its last attempts are known to have started
-- nothing and were not yet counted in nothing_started (take.lua counts the others); with
-- the schedule, what its 2xx tells: answered_at,
-- offset (Telnyx's clock minus ours), skew bound, format, channels, region, schedule
-- member, due at, and (with the conference's keys) its dirty member. The done-marker
-- holds the outcome's entry id, so the outcome can be read back. With the conference's
-- jobs, the job joins the candidates of its recordings in the same step as its outcome;
-- without, its conference is a name to resolve. Its window is first_attempt_at
-- (recorded by take) .. answered_at.
-- The entry also carries the job's principal and batch (for the event stream's filters).
-- Its batch counts the outcome in this same step. A job joining a conference that has
-- other jobs, recordings or an end changes who owns what: the conference is marked for
-- its recording states to be counted again (recording_counts.lua); alone on a quiet
-- conference it is `pending` as counted, and nothing more is written. A batch job that
-- sent nothing follows its original's state: marked (j:<job>, keys.dirty_job) too.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local who = redis.call('HMGET', KEYS[4], 'principal', 'batch')
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*',
  'outcome', ARGV[4], 'job_id', ARGV[1], 'status', ARGV[5],
  'principal', who[1] or '', 'batch', who[2] or '')
redis.call('XTRIM', KEYS[2], 'MINID', '~',
  string.format('%.0f-0', tonumber(string.match(id, '^%d+')) - tonumber(ARGV[7])))
redis.call('SET', KEYS[1], id, 'EX', ARGV[2])
if ARGV[6] == '1' then
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
end
batch_finished(KEYS[4], ARGV[1], ARGV[5], ARGV[8], ARGV[9], ARGV[2])
if ARGV[10] ~= '0' then redis.call('HINCRBY', KEYS[4], 'nothing_started', ARGV[10]) end
local dirty = KEYS[#KEYS]
if ARGV[9] == '1' and who[2] then
  redis.call('HINCRBY', KEYS[4], 'v', 1)
  redis.call('SADD', dirty, 'j:' .. ARGV[1])
end
if #KEYS >= 6 then
  redis.call('HSETNX', KEYS[4], 'first_attempt_at', ARGV[11])
  redis.call('HSET', KEYS[4], 'answered_at', ARGV[11], 'offset', ARGV[12], 'skew', ARGV[13],
    'format', ARGV[14], 'channels', ARGV[15], 'region', ARGV[16])
  redis.call('EXPIRE', KEYS[4], ARGV[2])
  redis.call('ZADD', KEYS[5], 'LT', ARGV[18], ARGV[17])
  if #KEYS == 9 then
    local others = redis.call('SCARD', KEYS[6]) > 0
    redis.call('SADD', KEYS[6], ARGV[1])
    redis.call('EXPIRE', KEYS[6], ARGV[2])
    if others or redis.call('EXISTS', KEYS[7]) == 1 or redis.call('EXISTS', KEYS[8]) == 1 then
      redis.call('HINCRBY', KEYS[8], 'v', 1)
      redis.call('EXPIRE', KEYS[8], ARGV[2])
      redis.call('SADD', dirty, ARGV[19])
    end
  else
    redis.call('HSET', KEYS[4], 'name_state', 'pending')
  end
end
return id

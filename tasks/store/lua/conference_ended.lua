-- KEYS: the conference's facts, its jobs, the reconcile schedule, the recording-states
-- dirty set. ARGV: now, ttl, reason, source, occurred_at, due at, schedule member, dirty
-- member. 1 when this is the first end stored, else 0 (Telnyx may send conference.ended
-- more than once; the API may tell it again). A conference confrec started recordings on
-- goes on the schedule at ARGV[6] (now), unless it is there already (NX): then it is
-- looked at at its time (a leased member stays leased), and the reconciler, which keeps
-- the grace, sets when it is listed. A first end marks its recording states to count.
if redis.call('HSETNX', KEYS[1], 'ended_at', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'end_reason', ARGV[3], 'end_source', ARGV[4],
  'occurred_at', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[8])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('ZADD', KEYS[3], 'NX', ARGV[6], ARGV[7])
end
return 1

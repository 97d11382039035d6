-- Library: a batch's counters and job lists, changed in the same step as what they count
-- (the enqueue, a delivery's start, the outcome, a recording state), so they cannot drift
-- from the jobs even when a process dies between two steps.
-- A batch is the hash batch_key(id) (keys.batch): created_at, principal, batch_key, total,
-- one counter per state / status / reason / recording state; beside it one sorted set per
-- list a listing filters by, batch_key(id) .. ':jobs:' .. name (keys.batch_jobs), each job
-- scored by its place in the batch (seq). A job's own state hash holds batch, seq and
-- phase (queued, running, finished) and rec (its recording state as last counted); only
-- a job that confrec's producer enqueued into a batch has them, so a message's headers
-- cannot touch a batch.
local function batch_key(id) return 'confrec:batch:' .. id end

local function batch_list(bk, name) return bk .. ':jobs:' .. name end

-- Move one job from list `from` to list `to` (either may be nil), counting both.
local function batch_move(bk, job, seq, from, to, ttl)
  if from then
    redis.call('HINCRBY', bk, from, -1)
    redis.call('ZREM', batch_list(bk, from), job)
  end
  if to then
    redis.call('HINCRBY', bk, to, 1)
    local list = batch_list(bk, to)
    redis.call('ZADD', list, seq, job)
    redis.call('EXPIRE', list, ttl)
  end
end

-- A delivery of the job started: queued -> running, once.
local function batch_begun(state, job, ttl)
  local f = redis.call('HMGET', state, 'batch', 'phase', 'seq')
  if not f[1] or f[2] ~= 'queued' then return end
  local bk = batch_key(f[1])
  redis.call('HSET', state, 'phase', 'running')
  batch_move(bk, job, f[3], 'queued', 'running', ttl)
  redis.call('EXPIRE', bk, ttl)
end

-- The job's outcome was published: into finished, its status, its reason, and
-- already_done when it sent nothing (its command had already succeeded); a started
-- recording is pending until its facts are counted (rec).
local function batch_finished(state, job, status, reason, already_done, ttl)
  local f = redis.call('HMGET', state, 'batch', 'phase', 'seq')
  if not f[1] or f[2] == 'finished' then return end
  local bk = batch_key(f[1])
  local seq = f[3]
  redis.call('HSET', state, 'phase', 'finished')
  batch_move(bk, job, seq, f[2], 'finished', ttl)
  batch_move(bk, job, seq, nil, status, ttl)
  batch_move(bk, job, seq, nil, reason, ttl)
  if already_done == '1' then batch_move(bk, job, seq, nil, 'already_done', ttl) end
  if status == 'succeeded' then
    redis.call('HSET', state, 'rec', 'pending')
    batch_move(bk, job, seq, nil, 'pending', ttl)
  end
  redis.call('EXPIRE', bk, ttl)
end

-- The job's recording state is now `rec` (pending, saved, not_saved, unknown, ambiguous):
-- moved between the recording lists when it changed. Returns 1 if it changed.
local function batch_recording(state, job, rec, ttl)
  local f = redis.call('HMGET', state, 'batch', 'rec', 'seq')
  if not f[1] or not f[2] or f[2] == rec then return 0 end
  local bk = batch_key(f[1])
  redis.call('HSET', state, 'rec', rec)
  batch_move(bk, job, f[3], f[2], rec, ttl)
  redis.call('EXPIRE', bk, ttl)
  return 1
end

-- uses: batch
-- KEYS: the batch's hash (batch.lua's batch_key; any key when there is no batch), the
-- enqueuing principal's batch index, the index of every batch, then the job state of each
-- job enqueued, then the job state of each job retried (one per job with a retry_of, in
-- order). ARGV: ttl, enqueued_at, the principal that enqueued them ('' = none: the CLI,
-- send_task), batch id ('' = none), now (ms), batch_key ('' = none), the batch these jobs
-- retry ('' = none), then per job its id, conference id, command id, labels (JSON, '' =
-- none), request fields (JSON, kept so the job can be sent again; '' = none) and the job
-- it retries ('' = none). Written before the messages go out, so a job's status is
-- "queued" from the moment its producer returns; its batch counts it queued in the same
-- step. A retry claims the job it retries (HSETNX retried_as) in this same step: one whose
-- original is gone or was already retried is not recorded, and its id is returned, so its
-- message is never sent. Returns the ids of the jobs left out.
local ttl, batch = ARGV[1], ARGV[4]
local bk = KEYS[1]
local W = 6
local n = (#ARGV - 7) / W
local function arg(i, k) return ARGV[7 + W * (i - 1) + k] end
local kept, refused = {}, {}
local originals = 3 + n
for i = 1, n do
  local ok = true
  if arg(i, 6) ~= '' then
    originals = originals + 1
    local original = KEYS[originals]
    ok = redis.call('EXISTS', original) == 1
      and redis.call('HSETNX', original, 'retried_as', arg(i, 1)) == 1
  end
  if ok then kept[#kept + 1] = i else refused[#refused + 1] = arg(i, 1) end
end
local count = #kept
local base = 0
if batch ~= '' and count > 0 then
  local created = redis.call('HSETNX', bk, 'created_at', ARGV[2])
  if created == 1 then
    redis.call('HSET', bk, 'created_ms', ARGV[5], 'principal', ARGV[3], 'batch_key', ARGV[6])
    if ARGV[7] ~= '' then
      local retried = batch_key(ARGV[7])
      local before = redis.call('HGET', retried, 'retries')
      redis.call('HSET', bk, 'retry_of', ARGV[7])
      redis.call('HSET', retried, 'retries', before and (before .. ',' .. batch) or batch)
    end
  end
  base = redis.call('HINCRBY', bk, 'total', count) - count
  redis.call('HINCRBY', bk, 'queued', count)
  redis.call('EXPIRE', bk, ttl)
  local oldest = tonumber(ARGV[5]) - tonumber(ttl) * 1000
  for _, index in ipairs({KEYS[2], KEYS[3]}) do
    redis.call('ZADD', index, 'NX', ARGV[5], batch)
    redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. oldest)
    redis.call('EXPIRE', index, ttl)
  end
end
for place, i in ipairs(kept) do
  local key, job, labels = KEYS[3 + i], arg(i, 1), arg(i, 4)
  redis.call('HSET', key, 'enqueued_at', ARGV[2],
    'conference_id', arg(i, 2), 'command_id', arg(i, 3))
  if ARGV[3] ~= '' then redis.call('HSET', key, 'principal', ARGV[3]) end
  if labels ~= '' then redis.call('HSET', key, 'labels', labels) end
  if arg(i, 5) ~= '' then redis.call('HSET', key, 'fields', arg(i, 5)) end
  if arg(i, 6) ~= '' then redis.call('HSET', key, 'retry_of', arg(i, 6)) end
  if batch ~= '' then
    local seq = base + place
    redis.call('HSET', key, 'batch', batch, 'seq', seq, 'phase', 'queued')
    local all = batch_list(bk, 'all')
    redis.call('ZADD', all, seq, job)
    redis.call('ZADD', batch_list(bk, 'queued'), seq, job)
    redis.call('EXPIRE', all, ttl)
    redis.call('EXPIRE', batch_list(bk, 'queued'), ttl)
    if labels ~= '' then
      for k, v in pairs(cjson.decode(labels)) do
        local index = bk .. ':label:' .. redis.sha1hex(k .. '\0' .. v)
        redis.call('ZADD', index, seq, job)
        redis.call('EXPIRE', index, ttl)
      end
    end
  end
  redis.call('EXPIRE', key, ttl)
end
return refused

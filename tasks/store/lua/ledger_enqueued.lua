-- uses: batch
-- KEYS: the batch's hash (batch.lua's batch_key; any key when there is no batch), the
-- enqueuing principal's batch index, the index of every batch, then the job state of each
-- job enqueued. ARGV: ttl, enqueued_at, the principal that enqueued them ('' = none: the
-- CLI, send_task), batch id ('' = none), now (ms), batch_key ('' = none), then per job its
-- id, conference id, command id and labels (JSON, '' = none). Written before the messages go
-- out, so a job's status is "queued" from the moment its producer returns; its batch
-- counts it queued in the same step.
local ttl, batch = ARGV[1], ARGV[4]
local bk = KEYS[1]
local base = 0
local n = #KEYS - 3
if batch ~= '' then
  local created = redis.call('HSETNX', bk, 'created_at', ARGV[2])
  if created == 1 then
    redis.call('HSET', bk, 'created_ms', ARGV[5], 'principal', ARGV[3], 'batch_key', ARGV[6])
  end
  base = redis.call('HINCRBY', bk, 'total', n) - n
  redis.call('HINCRBY', bk, 'queued', n)
  redis.call('EXPIRE', bk, ttl)
  local oldest = tonumber(ARGV[5]) - tonumber(ttl) * 1000
  for _, index in ipairs({KEYS[2], KEYS[3]}) do
    redis.call('ZADD', index, 'NX', ARGV[5], batch)
    redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. oldest)
    redis.call('EXPIRE', index, ttl)
  end
end
for i = 1, n do
  local key, job, labels = KEYS[3 + i], ARGV[3 + 4 * i], ARGV[6 + 4 * i]
  redis.call('HSET', key, 'enqueued_at', ARGV[2],
    'conference_id', ARGV[4 + 4 * i], 'command_id', ARGV[5 + 4 * i])
  if ARGV[3] ~= '' then redis.call('HSET', key, 'principal', ARGV[3]) end
  if labels ~= '' then redis.call('HSET', key, 'labels', labels) end
  if batch ~= '' then
    local seq = base + i
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
return n

-- KEYS: the job state of each job enqueued. ARGV: ttl, enqueued_at, then per job its
-- conference id and command id. Written before the messages go out, so a job's status is
-- "queued" from the moment its producer returns.
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'enqueued_at', ARGV[2],
    'conference_id', ARGV[1 + 2 * i], 'command_id', ARGV[2 + 2 * i])
  redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS

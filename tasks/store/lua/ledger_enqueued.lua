-- KEYS: the job state of each job enqueued. ARGV: ttl, enqueued_at, the principal that
-- enqueued them ('' = none: the CLI, send_task), then per job its conference id and
-- command id. Written before the messages go out, so a job's status is "queued" from the
-- moment its producer returns.
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'enqueued_at', ARGV[2],
    'conference_id', ARGV[2 + 2 * i], 'command_id', ARGV[3 + 2 * i])
  if ARGV[3] ~= '' then redis.call('HSET', key, 'principal', ARGV[3]) end
  redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS

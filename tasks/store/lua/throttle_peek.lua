-- uses: refill
-- KEYS: bucket, pause. ARGV: rate ("" = unlimited), burst. Reads only.
-- Returns {pause PTTL, tokens now} ({pause PTTL} when unlimited).
local paused = redis.call('PTTL', KEYS[2])
if ARGV[1] == '' then return {paused} end
local tokens = refill(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
return {paused, tostring(tokens)}

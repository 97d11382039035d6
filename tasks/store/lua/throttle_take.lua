-- uses: take
-- KEYS: bucket, pause, job state. ARGV: take's six arguments (take.lua).
return take_from(KEYS[1], KEYS[2], KEYS[3], ARGV, 1)

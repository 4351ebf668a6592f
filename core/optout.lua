-- Add numbers to the opt-out list (core/optout.py is its one wrapper).
-- KEYS[1] the list: number -> 'added|expires|source|reason' (seconds; expires 0: never)
-- KEYS[2] expiring entries: number -> expires (so lapsed ones are dropped)
-- ARGV[1] now, seconds   ARGV[2] how many lapsed entries to drop on this call
-- ARGV[3..] triples: number, packed value, expires
-- An entry that never expires is not replaced by one that does: a learned opt-out
-- never shortens one a person asked for.  Returns how many numbers were not on it.
local now, added = tonumber(ARGV[1]), 0
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, number in ipairs(lapsed) do
  redis.call('HDEL', KEYS[1], number)
  redis.call('ZREM', KEYS[2], number)
end
for i = 3, #ARGV, 3 do
  local number, value, expires = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local old = redis.call('HGET', KEYS[1], number)
  local old_expires = old and tonumber(string.match(old, '^%d+|(%d+)|'))
  if not old then
    added = added + 1
  end
  if not (old_expires == 0 and expires > 0) then
    redis.call('HSET', KEYS[1], number, value)
    if expires > 0 then
      redis.call('ZADD', KEYS[2], expires, number)
    else
      redis.call('ZREM', KEYS[2], number)
    end
  end
end
return added

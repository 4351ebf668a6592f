-- Take parked batches off a campaign's list, one call per batch, so that two resumes at
-- once never take the same batch, and one that dies half-way loses nothing.
-- KEYS[1] the parked list   KEYS[2] the unparking zset (batch -> when it was taken, ms)
-- ARGV[1] mode: take | done | recover
--   take:    the next parked batch, now in `unparking`; nil when none is left
--   done:    ARGV[2] (a batch `take` gave) is enqueued: forget it
--   recover: batches taken more than ARGV[2] ms ago (their resume died) go back to the
--            front of the list; returns how many
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local mode = ARGV[1]
if mode == 'take' then
  local raw = redis.call('LPOP', KEYS[1])
  if raw then redis.call('ZADD', KEYS[2], now, raw) end
  return raw
elseif mode == 'done' then
  return redis.call('ZREM', KEYS[2], ARGV[2])
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
for i = #stale, 1, -1 do
  redis.call('LPUSH', KEYS[1], stale[i])
  redis.call('ZREM', KEYS[2], stale[i])
end
return #stale

-- Resume a campaign and take its parked batches off the list, one call per batch, so that
-- two resumes at once never take the same batch, one that dies half-way loses nothing, and
-- a cancel is never undone by a resume running at the same moment.
-- KEYS[1] the parked list   KEYS[2] the unparking zset (batch -> when it was taken, ms)
-- KEYS[3] the campaign's meta hash (`paused`, `canceled`)
-- ARGV[1] mode: resume | take | done | recover
--   resume:  clear the pause unless the campaign is canceled, in one step with the check
--            (a cancel sets both `canceled` and `paused`, so a canceled campaign stays
--            paused for every worker); returns 1, or 2 when canceled (nothing changed)
--   take:    the next parked batch, now in `unparking`; nil when none is left.  ARGV[2] '1'
--            (a resume taking them): nil too once the campaign is canceled, so a cancel
--            landing in the middle of a resume gets every batch the resume has not
--            enqueued yet (and ends them canceled); a cancel takes them with ''
--   done:    ARGV[2] (a batch `take` gave) is enqueued: forget it
--   recover: batches taken more than ARGV[2] ms ago (their resume died) go back to the
--            front of the list; returns how many
local mode = ARGV[1]
local canceled = redis.call('HEXISTS', KEYS[3], 'canceled') == 1
if mode == 'resume' then
  if canceled then return 2 end
  redis.call('HDEL', KEYS[3], 'paused')
  return 1
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if mode == 'take' then
  if ARGV[2] == '1' and canceled then return nil end
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

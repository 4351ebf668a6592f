-- Record one click on a short link and give back its target, in one call (the redirect's
-- one round trip; dispatcher/links.py `click`, its one wrapper).  Every key is in the
-- tag's slot, the outcome stream too on a Redis Cluster (the tag's outbox, relayed).
--
-- KEYS[1]  the link (hash: t target, c campaign, m messageId, n clicks, f first click,
--          l last click, a the last click's user-agent family)
-- KEYS[2]  the tag's hash: clicks, clicked (messages with a click), ua:{family} counts
-- KEYS[3]  clicks by messageId       KEYS[4]  clicks by epoch minute
-- KEYS[5]  the outcome stream, or the tag's outbox
-- ARGV[1]  now, ms   ARGV[2]  the user-agent family   ARGV[3]  the stream's maxlen (0: kept)
--
-- Returns the target, or false for a link that does not exist (unknown or expired): then
-- nothing is written.  Every click is one `clicked` event in the stream (`clicks` is the
-- link's count after it, `first` is 1 on its first click).  The counters' keys live as long
-- as the longest-lived link that was clicked (they are never given a shorter TTL).
--#include trim
local link = redis.call('HMGET', KEYS[1], 't', 'c', 'm')
if not link[1] then return false end
local now, agent, maxlen = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
if n == 1 then redis.call('HSET', KEYS[1], 'f', now) end
redis.call('HSET', KEYS[1], 'l', now, 'a', agent)
if redis.call('HINCRBY', KEYS[3], link[3], 1) == 1 then
  redis.call('HINCRBY', KEYS[2], 'clicked', 1)
end
redis.call('HINCRBY', KEYS[2], 'clicks', 1)
redis.call('HINCRBY', KEYS[2], 'ua:' .. agent, 1)
redis.call('HINCRBY', KEYS[4], string.format('%d', math.floor(tonumber(now) / 60000)), 1)
local ttl = redis.call('PTTL', KEYS[1])
for _, key in ipairs({KEYS[2], KEYS[3], KEYS[4]}) do
  if ttl > 0 and redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
redis.call('XADD', KEYS[5], '*', 'event', 'clicked', 'state', 'clicked',
  'messageId', link[3], 'campaign', link[2], 'clicks', n, 'first', n == 1 and 1 or 0,
  'agent', agent, 'ts', now)
if maxlen > 0 then stream_trim(KEYS[5], maxlen) end
return link[1]

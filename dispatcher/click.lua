-- Record clicks on short links of one tag (one campaign) and give back their targets, in
-- one call (dispatcher/links.py `clicks`, its one wrapper: the redirect sends the clicks of
-- one moment together).  Every key is in the tag's slot, the stream too on a Redis Cluster
-- (the tag's outbox, relayed).
--
-- KEYS[1]  the tag's hash: clicks, clicked (messages with a click), ua:{family} counts
-- KEYS[2]  clicks by messageId       KEYS[3]  clicks by epoch minute
-- KEYS[4]  the outcome stream, or the tag's outbox
-- KEYS[5..] the links clicked, one per click (hash: t target, c campaign, m messageId,
--          n clicks, f first click, l last click, a the last click's user-agent family)
-- ARGV[1]  now, ms   ARGV[2]  the stream's maxlen (0: kept whole)
-- ARGV[3..] each click's user-agent family, in the order of its link in KEYS
--
-- Returns each click's target, or false for a link that does not exist (unknown or
-- expired): nothing is written for it.  Every click is one `clicked` event in the stream
-- (`clicks` is the link's count after it, `first` is 1 on its first click).  The counters'
-- keys live as long as the longest-lived link clicked (never given a shorter TTL).
--#include trim
local tag, by_message, by_minute, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, maxlen = ARGV[1], tonumber(ARGV[2])
local minute = string.format('%d', math.floor(tonumber(now) / 60000))
local out, clicks, clicked, agents, ttl = {}, 0, 0, {}, 0
for i = 5, #KEYS do
  local key, agent = KEYS[i], ARGV[i - 2]
  local link = redis.call('HMGET', key, 't', 'c', 'm')
  if link[1] then
    local n = redis.call('HINCRBY', key, 'n', 1)
    if n == 1 then redis.call('HSET', key, 'f', now) end
    redis.call('HSET', key, 'l', now, 'a', agent)
    if redis.call('HINCRBY', by_message, link[3], 1) == 1 then clicked = clicked + 1 end
    clicks = clicks + 1
    agents[agent] = (agents[agent] or 0) + 1
    ttl = math.max(ttl, redis.call('PTTL', key))
    redis.call('XADD', stream, '*', 'event', 'clicked', 'state', 'clicked',
      'messageId', link[3], 'campaign', link[2], 'clicks', n, 'first', n == 1 and 1 or 0,
      'agent', agent, 'ts', now)
    out[i - 4] = link[1]
  else
    out[i - 4] = false
  end
end
if clicks > 0 then
  redis.call('HINCRBY', tag, 'clicks', clicks)
  if clicked > 0 then redis.call('HINCRBY', tag, 'clicked', clicked) end
  for agent, n in pairs(agents) do redis.call('HINCRBY', tag, 'ua:' .. agent, n) end
  redis.call('HINCRBY', by_minute, minute, clicks)
  for _, key in ipairs({tag, by_message, by_minute}) do
    if ttl > 0 and redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
  end
  if maxlen > 0 then stream_trim(stream, maxlen) end
end
return out

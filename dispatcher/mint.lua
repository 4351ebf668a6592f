-- Mint the short links of one batch's messages, or give back those minted before for them
-- (dispatcher/links.py `mint`, its one wrapper).  Every key is in the tag's slot.
--
-- KEYS[1]  the tag's ids hash: "{messageId}#{n}" -> the rest of that link's code
-- KEYS[2]  the tag's hash (its `campaign` must be ARGV[2]: the tag is that campaign's)
-- KEYS[3..] a fresh link key for each item, in order (keys.link(tag, rest))
-- ARGV[1]  TTL of the links, s       ARGV[2]  the campaign
-- ARGV[3]  JSON [[field, rest, target, messageId], ...], one per item
--
-- A field minted before keeps its code (a re-import, or a batch enqueued again after a
-- crash, gives each message the link it may already have been sent): returns, per item,
-- that code's rest, else the fresh rest (its link now stored), else "" when the fresh key
-- is taken already (a collision of random codes: the caller draws again for those).
local ids, tag = KEYS[1], KEYS[2]
local ttl, campaign = tonumber(ARGV[1]), ARGV[2]
if redis.call('HGET', tag, 'campaign') ~= campaign then
  return redis.error_reply('LINKTAG the link tag is not this campaign\'s')
end
local items, out = cjson.decode(ARGV[3]), {}
for i, it in ipairs(items) do
  local had = redis.call('HGET', ids, it[1])
  local key = KEYS[2 + i]
  if had then
    out[i] = had
  elseif redis.call('EXISTS', key) == 1 then
    out[i] = ''
  else
    redis.call('HSET', key, 't', it[3], 'c', campaign, 'm', it[4])
    redis.call('EXPIRE', key, ttl)
    redis.call('HSET', ids, it[1], it[2])
    out[i] = it[2]
  end
end
redis.call('EXPIRE', ids, ttl)
redis.call('EXPIRE', tag, ttl)
return out

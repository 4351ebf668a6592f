-- Each batch of a campaign is enqueued once, even by two imports at the same time.
-- KEYS[1] the campaign's enqueued-batch bitmap   KEYS[2] its batch-claim hash
-- KEYS[3] its counters hash                      KEYS[4] its meta hash
-- ARGV[1] mode: claim | mark | release   ARGV[2] batch seq   ARGV[3] this import's token
-- ARGV[4] claim: ms after which another import's claim is stale | mark: the batch's size
-- ARGV[5] TTL of these keys (s)
--
-- claim: 'done' (enqueued before), 'busy' (another import is enqueueing it right now),
--        'mine' (go: enqueue it, then mark it).  A claim older than ARGV[4] belonged to an
--        import that died between its claim and its enqueue: it is taken over.
-- mark:  sets the batch's bit; the first mark counts its messages as queued (so a batch
--        enqueued twice after all is counted once) and answers 1, a later one 0.
-- release: the enqueue failed: the claim goes (if still ours), so a re-run can take it.
local mode, seq, token = ARGV[1], ARGV[2], ARGV[3]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if mode == 'claim' then
  if redis.call('GETBIT', KEYS[1], seq) == 1 then return 'done' end
  local cur = redis.call('HGET', KEYS[2], seq)
  if cur then
    local owner, at = string.match(cur, '^(.*):(%d+)$')
    if owner ~= token and now - tonumber(at) < tonumber(ARGV[4]) then return 'busy' end
  end
  redis.call('HSET', KEYS[2], seq, token .. ':' .. now)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  return 'mine'
end
if mode == 'release' then
  local cur = redis.call('HGET', KEYS[2], seq)
  if cur and string.match(cur, '^(.*):%d+$') == token then redis.call('HDEL', KEYS[2], seq) end
  return 0
end
local first = redis.call('SETBIT', KEYS[1], seq, 1) == 0
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('HDEL', KEYS[2], seq)
if first then
  redis.call('HINCRBY', KEYS[3], 'queued', ARGV[4])
  redis.call('HINCRBY', KEYS[4], 'messages', ARGV[4])
  return 1
end
return 0

-- Resends of temporarily undelivered messages (dispatcher/reports/resend.py): the check
-- (this report made the message final, and its chain has no such resend yet) and the mark
-- in one step, so two copies of one report (in one body, or two bodies at once) resend
-- and count it once.  Every key is the campaign's (one Redis Cluster slot).
-- KEYS[1] the campaign's `resent` hash (chain head -> resends marked; the export's index)
-- KEYS[2] its pending resends (zset "{new messageId}|{to}" -> when marked, ms): marked,
--         not known to be enqueued yet
-- KEYS[3] its counters   KEYS[4] its meta hash   KEYS[5...] ledger buckets, by index
-- ARGV[1] mode: mark | done | stale
--   mark:  ARGV[2] JSON [[ledger key index, field, chain head, n, error id, new messageId]]
--          ARGV[3] TTL of the `resent` hash (s).  Each item whose message is undeliverable
--          with that error and whose head has fewer than n resends is marked (head -> n),
--          pending, and counted (a queued message of the campaign).  Returns a JSON list of
--          [item index (1-based), to] for those marked
--   done:  ARGV[2...] pending members that are enqueued: forget them
--   stale: pending members marked more than ARGV[2] ms ago (their enqueue died), stamped
--          now (the caller enqueues them again); returns them
--#include ledger
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local mode = ARGV[1]
if mode == 'done' then
  for i = 2, #ARGV do redis.call('ZREM', KEYS[2], ARGV[i]) end
  return #ARGV - 1
elseif mode == 'stale' then
  local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
  for _, member in ipairs(stale) do redis.call('ZADD', KEYS[2], now, member) end
  return stale
end
local items = cjson.decode(ARGV[2])
local marked = {}
for i, item in ipairs(items) do
  local m = ledger_get(KEYS[4 + item[1]], item[2])
  local head, n = item[3], tonumber(item[4])
  local done = tonumber(redis.call('HGET', KEYS[1], head) or '0')
  if m and m.state == 'undeliverable' and m.error == item[5] and m.to ~= '' and done < n then
    redis.call('HSET', KEYS[1], head, n)
    redis.call('ZADD', KEYS[2], now, item[6] .. '|' .. m.to)
    marked[#marked + 1] = {i, m.to}
  end
end
if #marked > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  redis.call('HINCRBY', KEYS[3], 'queued', #marked)
  redis.call('HINCRBY', KEYS[4], 'messages', #marked)
  redis.call('HINCRBY', KEYS[4], 'resent', #marked)
end
return cjson.encode(marked)

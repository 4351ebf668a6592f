-- A dead or unknown message back to queued: the one backward move there is (`smsdispatch
-- deadletters replay`, `smsdispatch unknown resend`).  Only from that state: a delivery
-- report may have moved the message on since.  A message already queued again (a replay that
-- stopped before it enqueued, or another replay right now) answers 1 too: enqueueing it
-- twice is harmless (send claims), never enqueueing it would leave it queued for good.
-- KEYS[1] the message's ledger bucket  KEYS[2] its campaign's counters
-- KEYS[3] its campaign's error counters  KEYS[4] the outcome stream, or the campaign's outbox
-- ARGV[1] messageId  ARGV[2] campaign  ARGV[3] its ledger field  ARGV[4] TTL of a live state (s)
-- ARGV[5] the state it leaves (dead | unknown)   ARGV[6] the reason, for the stream
-- ARGV[7] the message's number when a state that is gone counts as ARGV[5] ('' : it does
--         not): a dead letter outlives its message's final state (letters live 30 days,
--         a final state SMS_FINAL_TTL), and a letter is a message that died; its state is
--         then recreated queued (the campaign's counters, which never expire, still count
--         it dead).  Any send claim it left outlives the state too, and is asked about first.
-- Returns 1 when the caller must enqueue it, else 0.
--#include ledger
local m = ledger_get(KEYS[1], ARGV[3])
if m and m.state == 'queued' then return 1 end
if not m and (ARGV[7] or '') ~= '' then
  m = {state = ARGV[5], rank = 4, attempt = '', provider = '', to = ARGV[7], ekey = ''}
elseif not m or m.state ~= ARGV[5] then
  return 0
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local was_live = ledger_live(m)
if m.ekey ~= '' then redis.call('HINCRBY', KEYS[3], m.ekey, -1) end
m.state, m.rank, m.ekey, m.ts = 'queued', 0, '', ledger_b36(now)
ledger_put(KEYS[1], ARGV[3], m)
ledger_settle(KEYS[1], 1 - was_live, ARGV[4], ARGV[4])  -- a live state now: the live TTL
redis.call('HINCRBY', KEYS[2], ARGV[5], -1)
redis.call('HINCRBY', KEYS[2], 'queued', 1)
redis.call('XADD', KEYS[4], '*', 'messageId', ARGV[1], 'campaign', ARGV[2], 'state', 'queued',
  'rank', 0, 'reason', ARGV[6], 'ts', now)
return 1

-- A dead message back to queued: the one backward move there is (`smsdispatch deadletters
-- replay`).  Only from dead: a delivery report may have moved the message on since.  A
-- message already queued again (a replay that stopped before it enqueued, or another
-- replay right now) answers 1 too: enqueueing it twice is harmless (send claims), never
-- enqueueing it would leave it queued for good.
-- KEYS[1] the message hash  KEYS[2] its campaign's counters  KEYS[3] the outcome stream
-- ARGV[1] messageId  ARGV[2] campaign  ARGV[3] now (epoch ms)  ARGV[4] TTL of a live state (s)
-- Returns 1 when the caller must enqueue it, else 0.
local m = redis.call('HMGET', KEYS[1], 'state')
if m[1] == 'queued' then return 1 end
if m[1] ~= 'dead' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'queued', 'rank', 0)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('HINCRBY', KEYS[2], 'dead', -1)
redis.call('HINCRBY', KEYS[2], 'queued', 1)
redis.call('XADD', KEYS[3], '*', 'messageId', ARGV[1], 'campaign', ARGV[2], 'state', 'queued',
  'rank', 0, 'reason', 'replayed from dead letters', 'ts', ARGV[3])
return 1

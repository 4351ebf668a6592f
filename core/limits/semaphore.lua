-- Counting semaphore with self-expiring slots (e.g. 5 concurrent requests per gateway account).
--
-- KEYS[1]  ZSET holder_id -> expiry (µs since the epoch)
-- ARGV[1]  'acquire': ARGV[2] limit, ARGV[3] holder_id, ARGV[4] ttl_ms
--          returns 0 when granted (or refreshed: a holder that already has a slot
--          keeps it with a new expiry), else a wait hint in ms: when the earliest
--          slot expires if nobody releases it before (an upper bound)
-- ARGV[1]  'release': ARGV[2] holder_id; returns 1 if it held a slot, else 0
--
-- Expired slots (a worker died) are removed on every call.  Time comes from Redis TIME.

local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local function us(x)
    return string.format('%d', x)
end

redis.call('ZREMRANGEBYSCORE', key, '-inf', us(now))

if ARGV[1] == 'release' then
    return redis.call('ZREM', key, ARGV[2])
end
if ARGV[1] ~= 'acquire' then
    return redis.error_reply('semaphore: unknown operation ' .. tostring(ARGV[1]))
end

local limit, holder, ttl_ms = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if redis.call('ZSCORE', key, holder) or redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, us(now + ttl_ms * 1000), holder)
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    redis.call('PEXPIRE', key, math.max(1, math.ceil((tonumber(last[2]) - now) / 1000)))
    return 0
end
local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, math.ceil((tonumber(first[2]) - now) / 1000))

-- Exact sliding logs: several limits per item, each a ZSET of event timestamps.
--
-- KEYS[1]   sequence counter (makes every logged member unique across calls)
-- KEYS[2..] the window keys the batch uses (each listed once)
-- ARGV[1]   number of items; then per item:
--             n, then n triples (index into KEYS, limit, window_ms)
--
-- An item is allowed only if EVERY one of its windows holds fewer than `limit`
-- entries newer than now - window; then it is logged in all of them.  Items are
-- decided one after the other, so items of one batch that share a key see each
-- other.  A refused item gets the wait (ms) until enough old entries have left
-- its fullest window (the max over its full windows).
--
-- A key should be used with one window; if it is used with several, it is
-- trimmed by the longest so no window loses entries it still needs.
-- Time comes from Redis TIME.  Scores are µs since the epoch (exact in doubles).

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local seq = redis.call('INCR', KEYS[1])
local items = tonumber(ARGV[1])

local function us(x)
    return string.format('%d', x)
end
local now_us = us(now)

-- pass 1: the longest window of every key, then trim each key once
local longest = {}
local pos = 2
for _ = 1, items do
    local n = tonumber(ARGV[pos])
    for j = 0, n - 1 do
        local k = tonumber(ARGV[pos + 1 + 3 * j])
        local window = tonumber(ARGV[pos + 3 + 3 * j]) * 1000
        if (longest[k] or 0) < window then
            longest[k] = window
        end
    end
    pos = pos + 1 + 3 * n
end
for k, window in pairs(longest) do
    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', us(now - window))
end

-- wait (µs) until KEYS[k] has room for one more under `limit` per `window`, 0 if it has
local function wait_for(k, limit, window)
    local key = KEYS[k]
    local floor = '(' .. us(now - window)
    local count
    if window == longest[k] then
        count = redis.call('ZCARD', key) -- already trimmed to this very window
    else
        count = redis.call('ZCOUNT', key, floor, '+inf')
    end
    if count < limit then
        return 0
    end
    -- the entry whose leaving makes room: the (count - limit + 1)-th oldest in the window
    local leaving = redis.call('ZRANGEBYSCORE', key, floor, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
    return tonumber(leaving[2]) + window - now
end

-- pass 2: decide the items in order
local waits = {}
local touched = {}
pos = 2
for i = 1, items do
    local n = tonumber(ARGV[pos])
    local wait = 0
    for j = 0, n - 1 do
        local at = pos + 1 + 3 * j
        local w = wait_for(tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]) * 1000)
        wait = math.max(wait, w)
    end
    if wait > 0 then
        waits[i] = math.max(1, math.ceil(wait / 1000))
    else
        waits[i] = 0
        local member = now_us .. ':' .. seq .. ':' .. i
        for j = 0, n - 1 do
            local k = tonumber(ARGV[pos + 1 + 3 * j])
            redis.call('ZADD', KEYS[k], now_us, member)
            touched[k] = true
        end
    end
    pos = pos + 1 + 3 * n
end

-- a log lives as long as its newest entry can matter
for k in pairs(touched) do
    redis.call('PEXPIRE', KEYS[k], math.ceil(longest[k] / 1000))
end
return waits

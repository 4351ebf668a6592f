-- Exact sliding logs: several limits per item, each a ZSET of event timestamps.
--
-- KEYS      the window keys the batch uses, each listed once (all declared: on a Redis
--           Cluster they must share a hash slot, which the callers' keys do by their
--           hash tags, e.g. an OTP application's)
-- ARGV[1]   JSON [items, nonce, members?]: per item a list of [index into KEYS (1-based),
--           limit, window_ms]; a string unique to this call (makes logged members unique
--           across calls); and optionally per item its member (e.g. a messageId).
--           (One JSON argument: cheap for the client to encode, see README "Performance".)
--
-- An item is allowed only if EVERY one of its windows holds fewer than `limit`
-- entries newer than now - window; then it is logged in all of them.  Items are
-- decided one after the other, so items of one batch that share a key see each
-- other.  A refused item gets the wait (ms) until enough old entries have left
-- its fullest window (the max over its full windows).
--
-- A key is trimmed only when its raw size reaches a limit (stale entries can only
-- make the raw size larger, so a smaller one already proves there is room): a
-- first message to a number costs ZCARD, ZADD and PEXPIRE, no trimming.
-- A key should be used with one window; if it is used with several, it is
-- trimmed by the longest so no window loses entries it still needs.
--
-- Members: an item with a member that a window already holds (within that
-- window) is counted there once: it passes that window without a new entry.  So
-- a message decided again (a retried or deferred batch carrying the same
-- messageId) keeps the slot it took the first time instead of taking one more.
-- Time comes from Redis TIME.  Scores are µs since the epoch (exact in doubles).

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local data = cjson.decode(ARGV[1])
local names, items, nonce, members = KEYS, data[1], data[2], data[3]

local function us(x)
    return string.format('%d', x)
end
local now_us = us(now)

-- pass 1: the longest window of every key (a key is trimmed by it, once, when needed)
local longest = {}
for i = 1, #items do
    for _, w in ipairs(items[i]) do
        local k, window = w[1], w[3] * 1000
        if (longest[k] or 0) < window then
            longest[k] = window
        end
    end
end
local trimmed = {}

-- wait (µs) until names[k] has room for one more under `limit` per `window`, 0 if it has
local function wait_for(k, limit, window)
    local key = names[k]
    if redis.call('ZCARD', key) < limit then
        return 0 -- even counting stale entries there is room
    end
    if not trimmed[k] then
        redis.call('ZREMRANGEBYSCORE', key, '-inf', us(now - longest[k]))
        trimmed[k] = true
    end
    local floor = '(' .. us(now - window)
    local count
    if window == longest[k] then
        count = redis.call('ZCARD', key) -- trimmed to this very window
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
for i = 1, #items do
    local wait = 0
    local member = members and members[i] ~= '' and members[i] or nil
    local held = {}
    for j, w in ipairs(items[i]) do
        local score = member and redis.call('ZSCORE', names[w[1]], member)
        if score and tonumber(score) > now - w[3] * 1000 then
            held[j] = true -- this message already has its entry in this window
        else
            wait = math.max(wait, wait_for(w[1], w[2], w[3] * 1000))
        end
    end
    if wait > 0 then
        waits[i] = math.max(1, math.ceil(wait / 1000))
    else
        waits[i] = 0
        member = member or (now_us .. ':' .. nonce .. ':' .. i)
        for j, w in ipairs(items[i]) do
            if not held[j] then
                redis.call('ZADD', names[w[1]], now_us, member)
                touched[w[1]] = true
            end
        end
    end
end

-- a log lives as long as its newest entry can matter
for k in pairs(touched) do
    redis.call('PEXPIRE', names[k], math.ceil(longest[k] / 1000))
end
return waits

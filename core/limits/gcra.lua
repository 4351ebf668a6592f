-- GCRA (Generic Cell Rate Algorithm) token bucket: account throughput in cost units.
--
-- KEYS[1]  the bucket's TAT key (theoretical arrival time, µs since the epoch)
-- ARGV[1]  emission interval: µs per cost unit at the steady rate (may be fractional)
-- ARGV[2]  burst: units allowed at once beyond the steady rate (a fresh bucket
--          admits burst + 1 units immediately)
-- ARGV[3]  reserve: units of the burst this caller must leave free (0..burst) for
--          traffic that asks with a smaller reserve: a lower priority.  Campaigns ask
--          with the transactional share's reserve, OTPs with 0, so an OTP finds room
--          at once while campaigns still get the whole rate when no OTP comes.
-- ARGV[4..] one cost per item (SMS parts), decided in order
--
-- Returns one wait per item in ms: 0 = allowed now (and counted), else try again
-- after that many ms.  ORDER IS KEPT: once an item is refused every later item is
-- refused too, with the cumulative wait it would have if the refused ones went
-- first at their earliest conforming times; so the admitted items are always a
-- prefix and the waits are non-decreasing, and the worker can schedule the rest.
-- Only the admitted prefix is recorded.
--
-- A cost larger than burst + 1 could never fit; it is admitted when the bucket
-- is full (nothing ahead of now) and then pays its whole cost, delaying the
-- items after it accordingly.
--
-- Time comes from Redis TIME, never from the caller.  Arithmetic is done relative
-- to now ("ahead" = TAT - now) so fractional intervals stay precise.

local EPSILON_US = 0.001 -- float noise from fractional intervals is not a wait

local key = KEYS[1]
local emission = tonumber(ARGV[1])
local tolerance = emission * (tonumber(ARGV[2]) + 1 - tonumber(ARGV[3]))

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local stored = redis.call('GET', key)
local ahead = stored and math.max(0, tonumber(stored) - now) or 0
local admitted_ahead = nil

local waits = {}
local refused = false
for i = 4, #ARGV do
    local increment = emission * tonumber(ARGV[i])
    local wait = ahead + math.min(increment, tolerance) - tolerance
    if refused or wait > EPSILON_US then
        refused = true
        waits[#waits + 1] = math.max(1, math.ceil((wait - EPSILON_US) / 1000))
    else
        waits[#waits + 1] = 0
        admitted_ahead = ahead + increment
    end
    ahead = ahead + increment
end

if admitted_ahead then
    local ttl_ms = math.max(1, math.ceil(admitted_ahead / 1000))
    redis.call('SET', key, string.format('%.17g', now + admitted_ahead), 'PX', ttl_ms)
end
return waits

-- Send claims: which destinations of a batch this run may send, atomically, in one call.
--
-- A claim (fields `claim` = run token and `claimed` = Redis time in ms, in the
-- message hash) is taken just before a request leaves and ended by record.lua when
-- the run records what the gateway answered.  A claim still there means "this may
-- have been sent": its run died, timed out, or could not read the answer.  Such a
-- destination is never sent again until the gateway has been asked (see
-- workers/sender.py), and never while the claim is younger than `settle`, the
-- longest a request may still be on its way or being processed.
--
-- KEYS[1]  the suppression set
-- ARGV[1]  message key prefix      ARGV[2]  rank of `accepted`
-- ARGV[3]  mode: inspect | claim | takeover
-- ARGV[4]  this run's token        ARGV[5]  settle time (ms)
-- ARGV[6]  TTL of a message hash this call creates (s)
-- ARGV[7]  the campaign (stored with a message seen for the first time)
-- ARGV[8]  JSON array of [messageId, number]
--
-- Returns {marks, wait...}: one character per destination, then one wait (ms) per
-- '3' mark, in order.
--   '1' already sent (state rank >= accepted)      '2' the number is suppressed
--   '3' claimed by another run that may still be sending it: wait that long
--   '0' inspect: free or ours | claim: ours now (stamped now) | takeover: ours to ask about
--   '4' inspect only: claimed by a run that is surely over: ask the gateway first
--   '5' takeover only: the claim is gone (its run ended it): free again
local prefix, accepted, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local token, settle, ttl, campaign = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local items = cjson.decode(ARGV[8])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local marks, waits = {}, {}
for i = 1, #items do
  local key, number = prefix .. items[i][1], items[i][2]
  local cur = redis.call('HMGET', key, 'rank', 'claim', 'claimed')
  local rank, claim, claimed = tonumber(cur[1]), cur[2], tonumber(cur[3]) or 0
  local mark
  if rank and rank >= accepted then
    mark = '1'
  elseif redis.call('SISMEMBER', KEYS[1], number) == 1 then
    mark = '2'
  elseif claim and claim ~= token then
    local age = now - claimed
    if mode == 'inspect' and age >= settle then
      mark = '4'
    elseif mode == 'takeover' and age >= settle then
      redis.call('HSET', key, 'claim', token)  -- the stamp stays: the last possible send
      mark = '0'
    else
      mark = '3'
      waits[#waits + 1] = math.max(0, settle - age)
    end
  elseif mode == 'claim' then
    local fresh = not rank and redis.call('EXISTS', key) == 0
    redis.call('HSET', key, 'claim', token, 'claimed', now)
    redis.call('HSETNX', key, 'campaign', campaign)
    if fresh then redis.call('EXPIRE', key, ttl) end
    mark = '0'
  elseif mode == 'takeover' and not claim then
    mark = '5'
  else
    mark = '0'
  end
  marks[i] = mark
end
local out = {table.concat(marks)}
for i = 1, #waits do out[i + 1] = waits[i] end
return out

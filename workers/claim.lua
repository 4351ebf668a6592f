-- Send claims: which destinations of a batch this run may send, atomically, in one call.
--
-- A claim (field `claim` = "{run token}:{Redis time, ms}" in the message hash) is taken
-- before a request leaves and ended by record.lua when the run records what the gateway
-- answered.  A claim still there means "this may have been sent": its run died, timed
-- out, or could not read the answer.  Such a destination is never sent again until the
-- gateway has been asked (see workers/sender.py), and never while the claim is younger
-- than `settle`, the longest a request may still be on its way or being processed.
--
-- KEYS[1]  the suppression set
-- ARGV[1]  message key prefix      ARGV[2]  rank of `accepted`
-- ARGV[3]  mode: start | claim
-- ARGV[4]  this run's token        ARGV[5]  settle time (ms)
-- ARGV[6]  TTL of a message hash this call creates (s)
-- ARGV[7]  the campaign (stored with a message that has no state yet)
-- ARGV[8]  where this run sends (workers.claims.Via: "provider|validity end|bulkId"),
--          stored with each claim it takes in the field `via`: only claims write it, so
--          it says where a request may have gone
-- ARGV[9]  the `via` of a claim that has none (taken before claims recorded one)
-- ARGV[10] JSON array of [messageId, number]
--
-- Returns {marks, waits, vias}: one character per destination; a JSON list of one
-- wait (ms) per '3' mark; a JSON list of one `via` per '4' mark (where the settled
-- claim's request may have gone: the gateway to ask, and about which request), in order.
--   '1' already sent (state rank >= accepted)      '2' the number is suppressed
--   '3' claimed by another run that may still be sending it: wait that long
--   '0' ours: free (claimed now, stamped now), or ours already (re-stamped now)
--   '4' start only: another run's claim that has surely settled, now ours with its old
--       stamp kept (the last moment it may have been sent): ask the gateway first
-- In `claim` mode (right before a request) another run's claim is never taken: '3'.
local prefix, accepted, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local token, settle, ttl, campaign = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local via, legacy = ARGV[8], ARGV[9]
local items = cjson.decode(ARGV[10])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local mine = token .. ':' .. now
local marks, waits, askers = {}, {}, {}
for i = 1, #items do
  local key, number = prefix .. items[i][1], items[i][2]
  local cur = redis.call('HMGET', key, 'rank', 'claim', 'via')
  local rank, claim = tonumber(cur[1]), cur[2]
  local owner, stamp
  if claim then owner, stamp = string.match(claim, '^(.*):(%d+)$') end
  local mark
  if rank and rank >= accepted then
    mark = '1'
  elseif redis.call('SISMEMBER', KEYS[1], number) == 1 then
    mark = '2'
  elseif claim and owner ~= token then
    local age = now - tonumber(stamp)
    if mode == 'start' and age >= settle then
      redis.call('HSET', key, 'claim', token .. ':' .. stamp)
      askers[#askers + 1] = cur[3] or legacy
      mark = '4'
    else
      mark = '3'
      waits[#waits + 1] = math.max(0, settle - age)
    end
  elseif rank then
    redis.call('HSET', key, 'claim', mine, 'via', via)
    mark = '0'
  else  -- no state yet (most often no hash at all): this call may create it
    redis.call('HSET', key, 'claim', mine, 'campaign', campaign, 'via', via)
    redis.call('EXPIRE', key, ttl)  -- a live message's TTL (record.lua sets it the same)
    mark = '0'
  end
  marks[i] = mark
end
return {table.concat(marks), cjson.encode(waits), cjson.encode(askers)}

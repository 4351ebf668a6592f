-- Send claims: which destinations of a batch this run may send, atomically, in one call.
--
-- A claim ("{run token}:{Redis time, ms}[:{stage}]+{settle}|{via}", the message's field in
-- its claims bucket, core/ledger.py) is taken
-- before a request leaves and ended by record.lua when the run records what the gateway
-- answered.  A claim still there means "this may have been sent": its run died, timed
-- out, or could not read the answer.  Such a destination is never sent again until the
-- gateway has been asked (see workers/sender.py), and never while the claim is younger
-- than `settle`, the longest a request may still be on its way or being processed.  Each
-- claim carries the settle time of the run that stamped it (its own SMS_HTTP_TIMEOUT plus
-- the margin), and is settled on that, not on the reader's: workers with another timeout
-- (a rolling change) never take a claim over early.  A claim without one (written before
-- claims carried it) is settled on the reader's ARGV[4].
--
-- KEYS     the ledger and claims buckets the items name (core/ledger.py), by index: one
--          campaign's, so one Redis Cluster slot
-- ARGV[1]  rank of `accepted`     ARGV[2]  mode: start | claim
-- ARGV[3]  this run's token       ARGV[4]  this run's settle time (ms), stored with its stamps
-- ARGV[5]  TTL of a claims bucket (s): a live message's
-- ARGV[6]  where this run sends (workers.claims.Via: "provider|validity end|bulkId"),
--          stored with each claim it takes ("{token}:{ms}|{via}"): only claims write it,
--          so it says where a request may have gone
-- ARGV[7]  the `via` of a claim that has none (taken before claims recorded one)
-- ARGV[8]  JSON array of [suppressed (0/1), ledger key index, claims key index, field]
--          (the caller reads the suppression set just before: a global key, in another slot)
--
-- ARGV[9]  the stage to stamp ('' none; 'c' claimed, its request not started yet; 's' its
--          request is about to leave): a provider whose lookup cannot prove absence has
--          its claims staged, so a settled claim still at 'c' (its run died before the
--          request) is simply taken, not asked about and held unknown
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
--#include ledger
local accepted, mode = tonumber(ARGV[1]), ARGV[2]
local token, settle, ttl = ARGV[3], tonumber(ARGV[4]), ARGV[5]
local via, legacy = ARGV[6], ARGV[7]
local items = cjson.decode(ARGV[8])
local stage = ARGV[9] or ''
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local staged = stage ~= '' and (':' .. stage) or ''
local mine = token .. ':' .. now .. staged .. '+' .. settle .. '|' .. via
local marks, waits, askers, touched = {}, {}, {}, {}
for i = 1, #items do
  local suppressed, lkey, kkey, field = items[i][1], KEYS[items[i][2]], KEYS[items[i][3]],
    items[i][4]
  local cur = ledger_get(lkey, field)
  local rank = cur and tonumber(cur.rank)
  local owner, stamp, old_via, old_stage, old_settle =
    ledger_claim(redis.call('HGET', kkey, field))
  local mark
  if rank and rank >= accepted then
    mark = '1'
  elseif suppressed == 1 then
    mark = '2'
  elseif owner and owner ~= token then
    local age, its_settle = now - stamp, old_settle or settle
    if mode == 'start' and age >= its_settle and old_stage == 'c' then
      redis.call('HSET', kkey, field, mine)  -- its request never started: ours to send
      touched[kkey] = true
      mark = '0'
    elseif mode == 'start' and age >= its_settle then
      -- taken over with its old stamp and settle time (the last moment it may have been
      -- sent, and how long its request could take)
      local kept = old_via or legacy
      local kept_stage = old_stage and (':' .. old_stage) or ''
      local kept_settle = old_settle and ('+' .. old_settle) or ''
      redis.call('HSET', kkey, field,
        token .. ':' .. stamp .. kept_stage .. kept_settle .. '|' .. kept)
      askers[#askers + 1] = kept
      mark = '4'
    else
      mark = '3'
      waits[#waits + 1] = math.max(0, its_settle - age)
    end
  else
    redis.call('HSET', kkey, field, mine)
    touched[kkey] = true
    mark = '0'
  end
  marks[i] = mark
end
for kkey in pairs(touched) do redis.call('EXPIRE', kkey, ttl) end
return {table.concat(marks), cjson.encode(waits), cjson.encode(askers)}

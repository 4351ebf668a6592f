-- Record state changes of many messages of one campaign atomically, one call per batch.
--
-- KEYS[1]  the outcome stream, or the campaign's outbox (core/outbox.py)
-- KEYS[2]  the campaign's counters (by state)
-- KEYS[3]  its open index (zset of ledger buckets, see the sweep)   KEYS[4]  its error counters
-- KEYS[5]  its providers (taken, by provider)
-- KEYS[6]  its waiting counters (deferred and retrying now, by reason code)
-- KEYS[7..] the ledger and claims buckets the items name (core/ledger.py), by index
-- ARGV[1]  maxlen of the stream (a soft cap: see "Trimming" below)
-- ARGV[2]  TTL of a final state (s)      ARGV[3]  TTL of a non-final state (s)
-- ARGV[4]  the campaign                  ARGV[5]  JSON array of items, each:
--   [state, rank, final, messageId, ledger key index, field, claims key index, bulkId, to,
--    attempt, group, status_id, status_name, error_id, permanent, reason, retry_at,
--    expires_at, release, provider, only_from, waiting]
-- ARGV[6]  JSON {taken: [states], failures: [states]} (core/outcomes.py TAKEN, FAILURES)
-- (One JSON argument instead of 20 per item keeps the client's encoding cost down: see
-- README "Performance".)
--
-- A change is applied only when it moves the message forward: a higher rank, or
-- another decision among the rank-1 states (deferred, retrying, paused).  So a
-- duplicate report, a redelivered batch or a late pending report changes nothing,
-- and counters move exactly once per real change.  Ranks (core/outcomes.py):
-- 0 queued, 1 deferred/retrying/paused, 2 accepted, 3 pending, 4 our own inferred
-- finals (dead, the sweep's expired), 5 every other final.  Returns the number applied.
--
-- An empty `to`, or attempt 0 (a delivery report does not know them), leaves the
-- recorded value.  The open index holds the ledger buckets of the messages whose state
-- (after this item) is accepted or pending and whose item carries an expires_at (the
-- worker's accepted), each scored by the latest such validity end (ZADD GT); an item
-- that is not applied still indexes (accepted after a pending report).  A bucket leaves
-- the index once it holds no live state (all final).
-- A change into a failure (ARGV[6] `failures`: not an expiry, a cancel or an opt-out) counts
-- once in the error counters (and is taken back there when a gateway
-- report replaces our own inferred final: the state keeps that counter's field, `ekey`).
-- A deferred or retrying item with a `waiting` code counts in the waiting counters while the
-- message waits for it (its `ekey` holds the code; leaving takes it back), and keeps there
-- "{code}:next", the earliest of their retry times still to come.
-- An item's provider (when it names one) is stored with the message and goes in the
-- stream; a message counts once for its provider (the item's, else the one stored) when it
-- first moves into a state the gateway took it in (`taken`: accepted, or a report that came
-- before the worker recorded accepted).
-- `unknown` (rank 2: the gateway may have it, held) is left by a report, or by `accepted`
-- (a later look at the gateway found it).  An item with `only_from` ignores the rank rule:
-- it applies exactly when the message is in that state now (an operator dropping an
-- `unknown` one).
-- An item with a `release` token ends that run's send claim when the message still
-- holds it, whether or not the state moved.
-- `canceled` applies only to a message never sent (rank below accepted) that no other
-- run holds a claim on (its request may be on its way): an operator's cancel never
-- relabels a message the gateway may have.
-- Index and counter writes are gathered and done once per key at the end.
--
-- Trimming (trim.lua): the stream is kept near `maxlen` entries, but never by dropping
-- an entry that a consumer group has not yet read and acknowledged: a lagging consumer
-- makes the stream grow instead of losing events.  maxlen 0: never trimmed (a campaign's
-- outbox, emptied by the relay: core/outbox.py).
--#include ledger
--#include trim
local stream, ckey, okey, ekey, pkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local wkey = KEYS[6]
local maxlen, final_ttl, live_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local campaign = ARGV[4]
local items = cjson.decode(ARGV[5])
local sets = cjson.decode(ARGV[6])
local taken, failures = {}, {}
for _, s in ipairs(sets.taken) do taken[s] = true end
for _, s in ipairs(sets.failures) do failures[s] = true end
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
local now, stamp = tostring(now_ms), ledger_b36(now_ms)
local applied = 0
local counts, providers, errors, waits = {}, {}, {}, {}  -- field -> change, once at the end
local nexts = {}  -- waiting code -> the earliest retry time of its items here
local opens, ttls = {}, {}  -- bucket -> latest validity end of its open ones / live delta
local function bump(tbl, field, by) tbl[field] = (tbl[field] or 0) + by end
local function index(lkey, newrank, expires)
  expires = tonumber(expires)
  if newrank >= 2 and newrank < 4 and expires and expires > 0 then
    if (opens[lkey] or 0) < expires then opens[lkey] = expires end
  end
end
for i = 1, #items do
  local it = items[i]
  local state, rank, final, mid = it[1], it[2], it[3], it[4]
  local lkey, field, kkey = KEYS[it[5]], it[6], KEYS[it[7]]
  local cur = ledger_get(lkey, field)
  local claimed_by = ledger_claim(redis.call('HGET', kkey, field))
  local crank = cur and tonumber(cur.rank) or 0
  local newrank = crank
  local from, applies = it[21], false
  if from ~= '' then
    applies = cur ~= nil and cur.state == from
  elseif not (state == 'canceled' and (crank >= 2 or (claimed_by and claimed_by ~= it[19]))) then
    applies = cur == nil or rank > crank or (rank == 1 and crank <= 1)
      or (state == 'accepted' and cur.state == 'unknown')
  end
  if applies then
    local old, was = cur and cur.state or 'queued', ledger_live(cur)
    local new = cur or {}  -- (cur itself, changed in place)
    newrank = rank
    new.state, new.rank, new.status, new.error, new.ts = state, rank, it[12], it[14], stamp
    if it[9] ~= '' then new.to = it[9] end
    if tonumber(it[10]) ~= 0 then new.attempt = it[10] end
    if it[20] ~= '' then new.provider = it[20] end
    if taken[state] and not taken[old] and (new.provider or '') ~= '' then
      bump(providers, new.provider, 1)
    end
    if old ~= state then
      bump(counts, old, -1)
      bump(counts, state, 1)
    end
    local held = new.ekey ~= '' and new.ekey or nil
    local counted = crank >= 4 and held or nil
    if counted then bump(errors, counted, -1) end  -- our inferred final is replaced
    if held and crank == 1 then bump(waits, held, -1) end  -- it waits no more for that
    new.ekey = ''
    if final == 1 and failures[state] and (old ~= state or counted) then
      local f = string.gsub((it[13] ~= '' and it[13] or it[12]) .. ':' .. it[14], '|', '/')
      bump(errors, f, 1)
      if rank < 5 then new.ekey = f end  -- only an inferred final can be replaced
    end
    local why, at = it[22] or '', tonumber(it[17]) or 0
    if rank == 1 and why ~= '' then
      new.ekey = why
      bump(waits, why, 1)
      if at > 0 and (nexts[why] or at + 1) > at then nexts[why] = at end
    end
    ledger_put(lkey, field, new)
    ttls[lkey] = (ttls[lkey] or 0) + ledger_live(new) - was
    redis.call('XADD', stream, '*',
      'messageId', mid, 'campaign', campaign, 'bulkId', it[8], 'to', it[9], 'state', state,
      'rank', rank, 'attempt', it[10], 'group', it[11], 'statusId', it[12],
      'statusName', it[13], 'errorId', it[14], 'permanent', it[15], 'reason', it[16],
      'retryAt', it[17], 'provider', it[20], 'ts', now)
    applied = applied + 1
  end
  if it[19] ~= '' and claimed_by == it[19] then redis.call('HDEL', kkey, field) end
  index(lkey, newrank, it[18])
end
for lkey, expires in pairs(opens) do redis.call('ZADD', okey, 'GT', expires, lkey) end
for lkey, delta in pairs(ttls) do  -- after the ZADDs: a bucket accepted and ended here leaves
  if ledger_settle(lkey, delta, final_ttl, live_ttl) == 0 then redis.call('ZREM', okey, lkey) end
end
for _, pair in ipairs({{ckey, counts}, {ekey, errors}, {pkey, providers}, {wkey, waits}}) do
  for f, by in pairs(pair[2]) do
    if by ~= 0 then redis.call('HINCRBY', pair[1], f, by) end
  end
end
for why, at in pairs(nexts) do  -- a time already past is replaced by the next one to come
  local was = tonumber(redis.call('HGET', wkey, why .. ':next'))
  if not was or was <= now_ms or at < was then redis.call('HSET', wkey, why .. ':next', at) end
end
if next(waits) or next(nexts) then redis.call('EXPIRE', wkey, live_ttl) end

if maxlen > 0 then stream_trim(stream, maxlen) end
return applied

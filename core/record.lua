-- Record state changes of many messages atomically, one call per batch.
--
-- KEYS[1]  the outcome stream
-- ARGV[1]  maxlen of the stream (a soft cap: see "Trimming" below)
-- ARGV[2]  TTL of a final state (s)      ARGV[3]  TTL of a non-final state (s)
-- ARGV[4]  message key prefix            ARGV[5], ARGV[6]  counters key = [5] .. campaign .. [6]
-- ARGV[7]  JSON array of items, each:
--   [state, rank, final, messageId, campaign, bulkId, to, attempt,
--    group, status_id, status_name, error_id, permanent, reason, retry_at, expires_at, release,
--    provider]
-- ARGV[8], ARGV[9]    open index key = [8] .. campaign .. [9]   (zset, see the sweep)
-- ARGV[10], ARGV[11]  error counters key = [10] .. campaign .. [11]
-- ARGV[12], ARGV[13]  providers key = [12] .. campaign .. [13]  (accepted, by provider)
-- (Key names come from core/keys.py through ARGV; one JSON argument instead
-- of 17 per item keeps the client's encoding cost down: see README "Performance".)
--
-- A change is applied only when it moves the message forward: a higher rank, or
-- another decision among the rank-1 states (deferred, retrying, paused).  So a
-- duplicate report, a redelivered batch or a late pending report changes nothing,
-- and counters move exactly once per real change.  Ranks (dispatcher/outcomes.py):
-- 0 queued, 1 deferred/retrying/paused, 2 accepted, 3 pending, 4 our own inferred
-- finals (dead, the sweep's expired), 5 every other final.  Returns the number applied.
--
-- The campaign a message belongs to is the one stored with it (the first writer's:
-- the worker or send_sms), so an item's campaign only matters for a message seen
-- for the first time (a delivery report that beat the worker's own write).
-- An empty bulkId or `to`, or attempt 0 (a delivery report does not know them),
-- leaves the recorded value.  The open index holds every message whose state
-- (after this item) is accepted or pending and whose item carries an expires_at
-- (the worker's accepted); a final state removes it.  An item that is not
-- applied still indexes or unindexes (accepted after a pending report).  A change
-- into a final state other than delivered counts once in the error counters (and
-- is taken back there when a gateway report replaces our own inferred final).
-- An item's provider (when it names one) is stored with the message and goes in the
-- stream; a move into accepted counts once for that provider.
-- An item with a `release` token ends that run's send claim (field `claim`, "token:ms")
-- when the message still holds it, whether or not the state moved.
-- `canceled` applies only to a message never sent (rank below accepted) that no other
-- run holds a claim on (its request may be on its way): an operator's cancel never
-- relabels a message the gateway may have.
-- Index and counter writes are gathered and done once per key at the end.
--
-- Trimming: the stream is kept near `maxlen` entries, but never by dropping an
-- entry that a consumer group has not yet read and acknowledged: a lagging
-- consumer makes the stream grow instead of losing events.
local stream = KEYS[1]
local maxlen, final_ttl, live_ttl = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local mprefix, cprefix, csuffix = ARGV[4], ARGV[5], ARGV[6]
local items = cjson.decode(ARGV[7])
local oprefix, osuffix, eprefix, esuffix = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local pprefix, psuffix = ARGV[12], ARGV[13]
local t = redis.call('TIME')
local now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
local applied = 0
local deltas = {}  -- counters key -> state -> change, applied once at the end
local function bump(ckey, state, by)
  local d = deltas[ckey] or {}
  deltas[ckey] = d
  d[state] = (d[state] or 0) + by
end
local opens, closes, errors = {}, {}, {}  -- key -> ZADD args / ZREM members / field -> n
local function push(tbl, k, ...)
  local l = tbl[k] or {}
  tbl[k] = l
  for _, v in ipairs({...}) do l[#l + 1] = v end
end
local function count_error(campaign, field, by)
  local ekey = eprefix .. campaign .. esuffix
  errors[ekey] = errors[ekey] or {}
  errors[ekey][field] = (errors[ekey][field] or 0) + by
end
local function index(campaign, mid, newrank, expires)
  local okey = oprefix .. campaign .. osuffix
  if newrank >= 4 then
    push(closes, okey, mid)
  elseif newrank >= 2 and tonumber(expires) and tonumber(expires) > 0 then
    push(opens, okey, expires, mid)
  end
end
for i = 1, #items do
  local it = items[i]
  local state, rank, final = it[1], it[2], it[3]
  local mkey = mprefix .. it[4]
  local cur = redis.call('HMGET', mkey, 'state', 'rank', 'campaign', 'claim', 'ekey')
  local campaign = cur[3] or it[5]
  local crank = tonumber(cur[2]) or 0
  local newrank = crank
  local claimed_by = cur[4] and string.match(cur[4], '^(.*):%d+$')
  local blocked = state == 'canceled' and (crank >= 2 or (claimed_by and claimed_by ~= it[17]))
  if not blocked and (cur[1] == false or rank > crank or (rank == 1 and crank <= 1)) then
    local old = cur[1] or 'queued'
    local ckey = cprefix .. campaign .. csuffix
    newrank = rank
    local set = {'state', state, 'rank', rank, 'campaign', campaign,
      'status', it[10], 'error', it[12], 'ts', now}
    if it[6] ~= '' then set[#set + 1] = 'bulk'; set[#set + 1] = it[6] end
    if it[7] ~= '' then set[#set + 1] = 'to'; set[#set + 1] = it[7] end
    if tonumber(it[8]) ~= 0 then set[#set + 1] = 'attempt'; set[#set + 1] = it[8] end
    if it[18] ~= '' then set[#set + 1] = 'provider'; set[#set + 1] = it[18] end
    if state == 'accepted' and old ~= state and it[18] ~= '' then
      bump(pprefix .. campaign .. psuffix, it[18], 1)
    end
    if old ~= state then
      bump(ckey, old, -1)
      bump(ckey, state, 1)
    end
    if cur[5] then  -- an inferred final we counted as an error is replaced
      count_error(campaign, cur[5], -1)
      redis.call('HDEL', mkey, 'ekey')
    end
    if final == 1 and state ~= 'delivered' and (old ~= state or cur[5]) then
      local f = (it[11] ~= '' and it[11] or it[10]) .. ':' .. it[12]
      count_error(campaign, f, 1)
      set[#set + 1] = 'ekey'; set[#set + 1] = f
    end
    redis.call('HSET', mkey, unpack(set))
    redis.call('EXPIRE', mkey, final == 1 and final_ttl or live_ttl)
    redis.call('XADD', stream, '*',
      'messageId', it[4], 'campaign', campaign, 'bulkId', it[6], 'to', it[7], 'state', state,
      'rank', rank, 'attempt', it[8], 'group', it[9], 'statusId', it[10],
      'statusName', it[11], 'errorId', it[12], 'permanent', it[13], 'reason', it[14],
      'retryAt', it[15], 'provider', it[18], 'ts', now)
    applied = applied + 1
  end
  if it[17] ~= '' and claimed_by == it[17] then
    redis.call('HDEL', mkey, 'claim')
  end
  index(campaign, it[4], newrank, it[16])
end
for okey, args in pairs(opens) do redis.call('ZADD', okey, unpack(args)) end
for okey, mids in pairs(closes) do redis.call('ZREM', okey, unpack(mids)) end
for ekey, e in pairs(errors) do
  for f, by in pairs(e) do
    if by ~= 0 then redis.call('HINCRBY', ekey, f, by) end
  end
end
for ckey, d in pairs(deltas) do
  for state, by in pairs(d) do
    if by ~= 0 then redis.call('HINCRBY', ckey, state, by) end
  end
end

-- Trimming, once the stream is over its cap by a slack (so it is not done per call).
local function next_id(id)  -- the smallest id after `id`
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. string.format('%d', tonumber(seq) + 1)
end
local function older(a, b)  -- a < b for stream ids
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if #am ~= #bm then return #am < #bm end
  if am ~= bm then return am < bm end
  return tonumber(as) < tonumber(bs)
end
local function groups_floor()  -- the oldest entry some consumer group still needs, or nil
  local floor = nil
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local info = {}
    for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
    local need = next_id(info['last-delivered-id'])
    if tonumber(info['pending']) > 0 then
      local p = redis.call('XPENDING', stream, info['name'])
      if p[2] and older(p[2], need) then need = p[2] end
    end
    if floor == nil or older(need, floor) then floor = need end
  end
  return floor
end
local slack = math.min(1000, math.ceil(maxlen / 10))
local len = redis.call('XLEN', stream)
if len > maxlen + slack then
  local floor = groups_floor()
  local excess = len - maxlen
  if floor == nil then
    redis.call('XTRIM', stream, 'MAXLEN', '~', maxlen)
  else
    local done = redis.call('XRANGE', stream, '-', '(' .. floor, 'COUNT', excess)
    if #done == excess then
      redis.call('XTRIM', stream, 'MAXLEN', '~', maxlen)
    elseif #done > 0 then
      redis.call('XTRIM', stream, 'MINID', '~', floor)
    end
  end
end
return applied

-- Record state changes of many messages atomically, one call per batch.
--
-- KEYS[1]  the outcome stream
-- ARGV[1]  maxlen of the stream (approximate trim)
-- ARGV[2]  TTL of a final state (s)      ARGV[3]  TTL of a non-final state (s)
-- ARGV[4]  message key prefix            ARGV[5], ARGV[6]  counters key = [5] .. campaign .. [6]
-- ARGV[7]  JSON array of items, each:
--   [state, rank, final, messageId, campaign, bulkId, to, attempt,
--    group, status_id, status_name, error_id, permanent, reason, retry_at, expires_at]
-- ARGV[8], ARGV[9]    open index key = [8] .. campaign .. [9]   (zset, see the sweep)
-- ARGV[10], ARGV[11]  error counters key = [10] .. campaign .. [11]
-- (Key names come from dispatcher/keys.py through ARGV; one JSON argument instead
-- of 15 per item keeps the client's encoding cost down: see README "Performance".)
--
-- A change is applied only when it moves the message forward: a higher rank, or
-- another decision among the rank-1 states (deferred, retrying, paused).  So a
-- duplicate report, a redelivered batch or a late pending report changes nothing,
-- and counters move exactly once per real change.  Returns the number applied.
--
-- An empty bulkId or `to`, or attempt 0 (a delivery report does not know them),
-- leaves the recorded value.  The open index holds every message whose state
-- (after this item) is accepted or pending and whose item carries an expires_at
-- (the worker's accepted); a final state removes it.  An item that is not
-- applied still indexes or unindexes (accepted after a pending report).  A change
-- into a final state other than delivered counts once in the error counters.
-- Index and counter writes are gathered and done once per key at the end.
local maxlen, final_ttl, live_ttl = ARGV[1], ARGV[2], ARGV[3]
local mprefix, cprefix, csuffix = ARGV[4], ARGV[5], ARGV[6]
local items = cjson.decode(ARGV[7])
local oprefix, osuffix, eprefix, esuffix = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
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
  local mkey, ckey = mprefix .. it[4], cprefix .. it[5] .. csuffix
  local cur = redis.call('HMGET', mkey, 'state', 'rank')
  local crank = tonumber(cur[2]) or 0
  local newrank = crank
  if cur[1] == false or rank > crank or (rank == 1 and crank <= 1) then
    local old = cur[1] or 'queued'
    newrank = rank
    local set = {'state', state, 'rank', rank, 'campaign', it[5],
      'status', it[10], 'error', it[12], 'ts', now}
    if it[6] ~= '' then set[#set + 1] = 'bulk'; set[#set + 1] = it[6] end
    if it[7] ~= '' then set[#set + 1] = 'to'; set[#set + 1] = it[7] end
    if tonumber(it[8]) ~= 0 then set[#set + 1] = 'attempt'; set[#set + 1] = it[8] end
    redis.call('HSET', mkey, unpack(set))
    redis.call('EXPIRE', mkey, final == 1 and final_ttl or live_ttl)
    if old ~= state then
      bump(ckey, old, -1)
      bump(ckey, state, 1)
      if final == 1 and state ~= 'delivered' then
        local ekey = eprefix .. it[5] .. esuffix
        local f = (it[11] ~= '' and it[11] or it[10]) .. ':' .. it[12]
        errors[ekey] = errors[ekey] or {}
        errors[ekey][f] = (errors[ekey][f] or 0) + 1
      end
    end
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*',
      'messageId', it[4], 'campaign', it[5], 'bulkId', it[6], 'to', it[7], 'state', state,
      'attempt', it[8], 'group', it[9], 'statusId', it[10], 'statusName', it[11],
      'errorId', it[12], 'permanent', it[13], 'reason', it[14], 'retryAt', it[15], 'ts', now)
    applied = applied + 1
  end
  index(it[5], it[4], newrank, it[16])
end
for okey, args in pairs(opens) do redis.call('ZADD', okey, unpack(args)) end
for okey, mids in pairs(closes) do redis.call('ZREM', okey, unpack(mids)) end
for ekey, e in pairs(errors) do
  for f, by in pairs(e) do redis.call('HINCRBY', ekey, f, by) end
end
for ckey, d in pairs(deltas) do
  for state, by in pairs(d) do
    if by ~= 0 then redis.call('HINCRBY', ckey, state, by) end
  end
end
return applied

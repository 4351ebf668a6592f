-- The ledger's packed message state (core/ledger.py has the layout), included by every
-- script that reads or writes one with a line "--#include ledger".
--   state|rank|status|error|attempt|provider|updated (ms, base 36)|to|ekey
local LEDGER_FIELDS = {'state', 'rank', 'status', 'error', 'attempt', 'provider', 'ts', 'to',
  'ekey'}
local LEDGER_DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
-- A state is stored as one letter (core/ledger.py CODES; a test holds the two equal).
local LEDGER_CODES = {queued = 'q', deferred = 'f', retrying = 'r', paused = 'p',
  accepted = 'a', pending = 'n', delivered = 'd', undeliverable = 'u', expired = 'e',
  rejected = 'j', failed = 'x', dead = 'z', suppressed = 's', canceled = 'c', unknown = 'k'}
local LEDGER_STATES = {}
for name, code in pairs(LEDGER_CODES) do LEDGER_STATES[code] = name end

-- A message's state as a table of LEDGER_FIELDS (strings), or nil.
local function ledger_get(key, field)
  local raw = redis.call('HGET', key, field)
  if not raw then return nil end
  local t, i = {}, 1
  for part in string.gmatch(raw .. '|', '([^|]*)|') do
    if LEDGER_FIELDS[i] then t[LEDGER_FIELDS[i]] = part end
    i = i + 1
  end
  t.state = LEDGER_STATES[t.state] or t.state
  return t
end

-- Epoch ms in base 36 (8 characters until 2059).
local function ledger_b36(n)
  local s = ''
  repeat
    local d = n % 36
    s = string.sub(LEDGER_DIGITS, d + 1, d + 1) .. s
    n = math.floor(n / 36)
  until n == 0
  return s
end

-- Write a state table (missing fields empty; '|' inside a value stored as '/').
local function ledger_put(key, field, t)
  local parts = {}
  for i, name in ipairs(LEDGER_FIELDS) do
    parts[i] = string.gsub(tostring(t[name] or ''), '|', '/')
  end
  parts[1] = LEDGER_CODES[t.state] or parts[1]
  redis.call('HSET', key, field, table.concat(parts, '|'))
end

-- 1 if a state (a table, or nil) is live: known and not final (rank < 4), else 0.
local function ledger_live(m)
  if m and tonumber(m.rank) < 4 then return 1 end
  return 0
end

-- After writes to a bucket that changed its number of live states by `delta`: the bucket
-- lives `live_ttl` while it holds a live one, else `final_ttl` (from now), like each of
-- its states would alone.  The count is the bucket's field '#' (no message has it).
-- Returns the bucket's live count.
local function ledger_settle(key, delta, final_ttl, live_ttl)
  local live
  if delta ~= 0 then
    live = redis.call('HINCRBY', key, '#', delta)
    if live <= 0 then redis.call('HDEL', key, '#') end
  else
    live = tonumber(redis.call('HGET', key, '#')) or 0
  end
  redis.call('EXPIRE', key, live > 0 and live_ttl or final_ttl)
  return live
end

-- A stored claim "{token}:{ms}[:{stage}][+{settle}]|{via}" as owner, stamp (number), via
-- (nil when none), stage ('c' claimed, its request not started; 's' its request may have
-- left; nil: a claim that does not say, taken as 's') and settle (ms after its stamp when
-- its request can surely no longer reach the gateway, the claiming run's own; nil: a
-- claim written before claims said, settled on the reader's).
local function ledger_claim(raw)
  if not raw then return nil, nil, nil, nil, nil end
  local owner, stamp, stage = string.match(raw, '^([^:|]*):(%d+):?([cs]?)')
  local settle = string.match(raw, '^[^|]*%+(%d+)')
  local via = string.match(raw, '|(.*)$')
  if via == '' then via = nil end
  if stage == '' then stage = nil end
  return owner, tonumber(stamp), via, stage, tonumber(settle)
end

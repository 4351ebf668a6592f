-- Anti-flooding per recipient: exact sliding logs of what each number was sent, kept small.
--
-- KEYS[1]  the key prefix of one provider's logs ("...{provider}:"); the script adds
--          "{W}:{slot}:{bucket}" (see Layout).  The one place a script builds key names:
--          which slot's hash to use depends on Redis's own clock.  Every name it builds
--          carries KEYS[1]'s hash tag, so on a Redis Cluster they all live in the slot the
--          call is routed to (tests/integration/test_cluster_limits.py).
-- ARGV[1]  JSON [W, varied, identical, items]:
--            W          the longest window (ms): logs are kept by slots of W
--            varied     [limit, window_ms] for messages of any text, or false
--            identical  [limit, window_ms] for messages of the same text, or false
--            items      per item [bucket, number, text hash, member hash]
--          (member hash: a short hash of the messageId, "" for none)
-- Returns per item 0 (allowed, and logged) or the wait in ms before it would be.
--
-- Layout: a number's log lives in a hash field (field = the number) of the hash for its
-- bucket (a hash of the number, chosen by the caller) and the slot floor(now / W).  Its
-- value is "entry,entry,...", an entry being "{ms into the slot, base 36}.{text hash}.
-- {member hash}".  Checking reads the number's field in this slot and the one before
-- (together they cover at least W back); a new entry goes in this slot's field.  A slot's
-- hash expires 2 W after it was last written, when none of its entries can matter any
-- more.  So a number costs memory only while it was messaged within W, and then about its
-- own length plus 20 bytes an entry: the hashes stay small encodings (listpacks) while
-- they hold up to 128 numbers of three entries or fewer each.
--
-- An item is allowed only if each limit holds fewer than `limit` entries newer than
-- now - window (the identical limit counting only entries of its text hash); then it is
-- logged.  Items are decided in order, so items of one call to the same number see each
-- other.  A refused item gets the wait until enough old entries leave its fullest limit.
-- An item whose member already has an entry within a limit's window passes that limit
-- without a new entry, so a message decided again (a retried or deferred batch) keeps the
-- slot it took; it gets a new entry when a limit it is checked against holds none of its
-- own (one entry counts for both limits, so that errs on the strict side).
-- Hash collisions only ever make it stricter, except two messageIds of one number with
-- the same 32-bit member hash within the window (then the second is not counted).
-- Time comes from Redis TIME.

local prefix = KEYS[1]
local data = cjson.decode(ARGV[1])
local W, varied, identical, items = data[1], data[2], data[3], data[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = math.floor(now / W)
local slot_start = slot * W
local B36 = '0123456789abcdefghijklmnopqrstuvwxyz'

local function b36(n)
  local s = ''
  repeat
    local d = n % 36
    s = string.sub(B36, d + 1, d + 1) .. s
    n = (n - d) / 36
  until n == 0
  return s
end

local function key(which, bucket)
  return prefix .. W .. ':' .. which .. ':' .. bucket
end

-- number -> {entries = {{ms, text, member}...}, fresh = "entries added in this slot"}
local logs = {}
local function log_of(bucket, number)
  local id = bucket .. ':' .. number
  local log = logs[id]
  if log then return log end
  log = {entries = {}, fresh = {}, bucket = bucket, number = number}
  local cur = redis.call('HGET', key(slot, bucket), number)
  local old = redis.call('HGET', key(slot - 1, bucket), number)
  for s, value in pairs({[slot - 1] = old, [slot] = cur}) do
    if value then
      for ms, text, member in string.gmatch(value, '([^.,]+)%.([^.,]*)%.([^.,]*)') do
        local at = s * W + tonumber(ms, 36)
        table.insert(log.entries, {at, text, member})
      end
    end
  end
  log.current = cur or ''
  logs[id] = log
  return log
end

-- wait (ms) until `limit` has room, 0 if it has; held: the member already has its entry
local function check(log, limit, text, member)
  if not limit then return 0, false end
  local count, last, window = 0, {}, limit[2]
  for _, e in ipairs(log.entries) do
    if e[1] > now - window and (text == nil or e[2] == text) then
      if member ~= '' and e[3] == member then return 0, true end
      count = count + 1
      last[#last + 1] = e[1]
    end
  end
  if count < limit[1] then return 0, false end
  table.sort(last)
  return last[count - limit[1] + 1] + window - now, false
end

local waits, touched = {}, {}
for i = 1, #items do
  local bucket, number, text, member = items[i][1], items[i][2], items[i][3], items[i][4]
  local log = log_of(bucket, number)
  local wv, hv = check(log, varied, nil, member)
  local wi, hi = check(log, identical, text, member)
  local wait = math.max(wv, wi)
  if wait > 0 then
    waits[i] = math.max(1, wait)
  else
    waits[i] = 0
    if not ((hv or not varied) and (hi or not identical)) then
      table.insert(log.entries, {now, text, member})
      log.fresh[#log.fresh + 1] = b36(now - slot_start) .. '.' .. text .. '.' .. member
      touched[bucket .. ':' .. number] = log
    end
  end
end

local keys_written = {}
for _, log in pairs(touched) do
  local fresh = table.concat(log.fresh, ',')
  local value = log.current == '' and fresh or (log.current .. ',' .. fresh)
  local k = key(slot, log.bucket)
  redis.call('HSET', k, log.number, value)
  keys_written[k] = true
end
for k in pairs(keys_written) do
  redis.call('PEXPIRE', k, 2 * W)
end
return waits

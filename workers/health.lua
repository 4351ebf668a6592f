-- Provider health for failover: recent requests per provider, in time buckets, shared by
-- every worker.  One script, three modes.
--
-- KEYS[1]: the `down` key of the one provider of the call: it routes the call on a Redis
-- Cluster.  The other names are built from ARGV[1] (prefix, e.g. "sms:health:") and the
-- provider's name (its time buckets depend on Redis's clock), all with the provider's hash
-- tag, so they are in KEYS[1]'s slot.  The wrapper makes one call per provider.
-- ARGV[2] mode: record | check | probe
-- ARGV[3] window (ms)    ARGV[4] bucket (ms)
--
-- record: ARGV[5] 1 if the request failed, ARGV[6] 1 if it was slow, ARGV[7] 1 if it was
--   sent as a probe (the provider marked down when it left), ARGV[8] provider.
--   Counts it in the current bucket.  A probe that went well while the provider is still
--   down restores it (its window starts afresh).
--   Returns 1 when this restored it, else 0.
-- check: ARGV[5] min requests, ARGV[6] error rate, ARGV[7] slow share, ARGV[8] probe
--   interval (ms), ARGV[9] failures in a row, ARGV[10..] providers.
--   Returns one mark per provider: 0 healthy; 1 down.  A provider turns down when its
--   last requests failed, that many in a row; or when, over the window, it had at least
--   `min` requests and at least the error rate of them failed, or the slow share of them
--   were slow.  Its first probe waits one probe interval.
-- probe: ARGV[5] probe interval (ms), ARGV[6..] down providers this caller would send to.
--   Returns 1 per provider whose one probe batch this caller may send (at most one per
--   probe interval, across all workers), else 0.
local prefix, mode = ARGV[1], ARGV[2]
local window, bucket = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local current = math.floor(now / bucket)
local buckets = math.ceil(window / bucket)

local function key(provider, what) return prefix .. '{' .. provider .. '}:' .. what end

local function reset(provider)
  for b = current - buckets, current do redis.call('DEL', key(provider, 'b:' .. b)) end
  redis.call('DEL', key(provider, 'down'), key(provider, 'probe'), key(provider, 'streak'))
end

if mode == 'record' then
  local provider = ARGV[8]
  local failed, slow, probe = ARGV[5] == '1', ARGV[6] == '1', ARGV[7] == '1'
  if probe and not failed and not slow and redis.call('EXISTS', key(provider, 'down')) == 1 then
    reset(provider)
    return 1
  end
  local b = key(provider, 'b:' .. current)
  redis.call('HINCRBY', b, 'n', 1)
  if failed then redis.call('HINCRBY', b, 'err', 1) end
  if slow then redis.call('HINCRBY', b, 'slow', 1) end
  redis.call('PEXPIRE', b, window + bucket)
  if failed then
    redis.call('INCR', key(provider, 'streak'))
    redis.call('PEXPIRE', key(provider, 'streak'), window)
  else
    redis.call('DEL', key(provider, 'streak'))
  end
  return 0
end

if mode == 'probe' then
  local granted = {}
  for i = 6, #ARGV do
    local ok = redis.call('SET', key(ARGV[i], 'probe'), now, 'NX', 'PX', tonumber(ARGV[5]))
    granted[#granted + 1] = ok and 1 or 0
  end
  return granted
end

local min, rate, share, probe = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
  tonumber(ARGV[8])
local in_a_row = tonumber(ARGV[9])
local marks = {}
for i = 10, #ARGV do
  local provider = ARGV[i]
  local n, err, slow = 0, 0, 0
  for b = current - buckets + 1, current do
    local v = redis.call('HMGET', key(provider, 'b:' .. b), 'n', 'err', 'slow')
    n, err, slow = n + (tonumber(v[1]) or 0), err + (tonumber(v[2]) or 0), slow + (tonumber(v[3]) or 0)
  end
  local down = redis.call('EXISTS', key(provider, 'down')) == 1
  local streak = tonumber(redis.call('GET', key(provider, 'streak'))) or 0
  if not down and (streak >= in_a_row or (n >= min and (err >= rate * n or slow >= share * n))) then
    redis.call('SET', key(provider, 'down'), now)
    redis.call('SET', key(provider, 'probe'), now, 'PX', probe)  -- the first probe waits
    down = true
  end
  marks[#marks + 1] = down and 1 or 0
end
return marks

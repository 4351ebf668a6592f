-- Trimming an outcome stream, included by the scripts that add to one ("--#include trim").
-- Once the stream is over `maxlen` by a slack (so it is not done per call), it is cut back
-- to about `maxlen` entries, but never by dropping an entry some consumer group has not
-- yet read and acknowledged: a lagging consumer makes the stream grow instead.
local function stream_next_id(id)  -- the smallest id after `id`
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. string.format('%d', tonumber(seq) + 1)
end
local function stream_older(a, b)  -- a < b for stream ids
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if #am ~= #bm then return #am < #bm end
  if am ~= bm then return am < bm end
  return tonumber(as) < tonumber(bs)
end
local function stream_floor(stream)  -- the oldest entry some consumer group still needs, or nil
  local floor = nil
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local info = {}
    for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
    local need = stream_next_id(info['last-delivered-id'])
    if tonumber(info['pending']) > 0 then
      local p = redis.call('XPENDING', stream, info['name'])
      if p[2] and stream_older(p[2], need) then need = p[2] end
    end
    if floor == nil or stream_older(need, floor) then floor = need end
  end
  return floor
end
local function stream_trim(stream, maxlen)
  local slack = math.min(1000, math.ceil(maxlen / 10))
  local len = redis.call('XLEN', stream)
  if len > maxlen + slack then
    local floor = stream_floor(stream)
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
end

-- Campaign-wide duplicate check, re-runnable (dispatcher/dedupe.py): the first CSV line
-- that used a number owns it, for good.  A re-run of the same import finds its own lines
-- again (not duplicates); another line with the same number is a duplicate.
-- KEYS     the number buckets the pairs name (by index)
-- ARGV[1]  TTL (s)
-- ARGV[2]  JSON array of [number, line, bucket key index] (one argument: cheap to encode)
-- Returns the duplicates only, flat: {index (1-based) of the pair, owning line, ...}.
-- (Most pairs own their number; a reply per pair cost the client more than the script.)
local out = {}
local items = cjson.decode(ARGV[2])
for i = 1, #items do
  local number, line, key = items[i][1], tostring(items[i][2]), KEYS[items[i][3]]
  if redis.call('HSETNX', key, number, line) == 0 then
    local owner = redis.call('HGET', key, number)
    if owner ~= line then
      out[#out + 1] = i
      out[#out + 1] = owner
    end
  end
end
for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ARGV[1]) end
return out

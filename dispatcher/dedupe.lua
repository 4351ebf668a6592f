-- Campaign-wide duplicate check, re-runnable: the first CSV line that used a
-- number owns it, for good.  A re-run of the same import finds its own lines
-- again (not duplicates); another line with the same number is a duplicate.
-- KEYS[1] the campaign's number -> line hash;  ARGV[1] TTL (s);
-- ARGV[2] JSON array of [number, line] pairs (one argument: cheap for the client to encode).
-- Returns the duplicates only, flat: {index (1-based) of the pair, owning line, ...}.
-- (Most pairs own their number; a reply per pair cost the client more than the script.)
local out = {}
local pairs_ = cjson.decode(ARGV[2])
for i = 1, #pairs_ do
  local number, line = pairs_[i][1], tostring(pairs_[i][2])
  if redis.call('HSETNX', KEYS[1], number, line) == 0 then
    local owner = redis.call('HGET', KEYS[1], number)
    if owner ~= line then
      out[#out + 1] = i
      out[#out + 1] = owner
    end
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return out

-- Campaign-wide duplicate check, re-runnable: the first CSV line that used a
-- number owns it, for good.  A re-run of the same import finds its own lines
-- again (not duplicates); another line with the same number is a duplicate.
-- KEYS[1] the campaign's number -> line hash;  ARGV[1] TTL (s);
-- ARGV[2] JSON array of [number, line] pairs (one argument: cheap for the client to encode).
-- Returns, per pair, "" when the line owns the number, else the owning line.
local out = {}
local pairs_ = cjson.decode(ARGV[2])
for i = 1, #pairs_ do
  local number, line = pairs_[i][1], tostring(pairs_[i][2])
  local owner = redis.call('HGET', KEYS[1], number)
  if not owner then
    redis.call('HSET', KEYS[1], number, line)
    owner = line
  end
  out[#out + 1] = (owner == line) and '' or owner
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return out

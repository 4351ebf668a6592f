-- Campaign-wide duplicate check, re-runnable: the first CSV line that used a
-- number owns it, for good.  A re-run of the same import finds its own lines
-- again (not duplicates); another line with the same number is a duplicate.
-- KEYS[1] the campaign's number -> line hash;  ARGV[1] TTL (s);  ARGV[2..] number, line pairs.
-- Returns, per pair, "" when the line owns the number, else the owning line.
local out = {}
for i = 2, #ARGV, 2 do
  local number, line = ARGV[i], ARGV[i + 1]
  local owner = redis.call('HGET', KEYS[1], number)
  if not owner then
    redis.call('HSET', KEYS[1], number, line)
    owner = line
  end
  out[#out + 1] = (owner == line) and '' or owner
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return out

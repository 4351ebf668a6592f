-- Read a chunk of message hashes for the export, in one call instead of one HMGET each.
-- KEYS     the message hashes, in export order (one campaign's)
-- ARGV     the fields to read
-- Returns  #KEYS * #ARGV values, flat and in order; '' where a field (or hash) is missing.
local out = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], unpack(ARGV))
  for j = 1, #ARGV do out[#out + 1] = v[j] or '' end
end
return out

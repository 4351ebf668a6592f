-- Which destinations of a batch still need sending, in one call.
-- KEYS[1] the suppression set.  ARGV[1] message key prefix, ARGV[2] the rank of `accepted`,
-- ARGV[3] JSON array of [messageId, number].
-- Returns one character per destination: '0' send it, '1' already sent (its state
-- rank >= accepted: a redelivered or duplicated batch), '2' the number is suppressed.
local prefix, accepted = ARGV[1], tonumber(ARGV[2])
local items = cjson.decode(ARGV[3])
local out = {}
for i = 1, #items do
  local rank = tonumber(redis.call('HGET', prefix .. items[i][1], 'rank'))
  if rank and rank >= accepted then
    out[i] = '1'
  elseif redis.call('SISMEMBER', KEYS[1], items[i][2]) == 1 then
    out[i] = '2'
  else
    out[i] = '0'
  end
end
return table.concat(out)

-- Relay a campaign outbox's entries into the outcome stream (core/outbox.py), in order.
-- KEYS[1]  the outcome stream
-- ARGV[1]  its maxlen (trimmed as record.lua trims it: trim.lua)
-- ARGV[2]  JSON array of entries, each a flat array of field, value, ...
-- Returns the number of entries added.
--#include trim
local entries = cjson.decode(ARGV[2])
for i = 1, #entries do redis.call('XADD', KEYS[1], '*', unpack(entries[i])) end
stream_trim(KEYS[1], tonumber(ARGV[1]))
return #entries

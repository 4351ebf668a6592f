-- Batches to enqueue later, kept in Redis until they are due (not in a worker's memory,
-- as dramatiq's delayed messages are): a campaign that starts tomorrow, destinations
-- outside their delivery window, long deferrals.
--
-- KEYS[1]  the campaign's scheduled batches (zset: batch JSON -> due, ms)
-- KEYS[2]  the due index (zset: campaign -> its earliest due, ms)
-- ARGV[1]  mode: add | due | done       ARGV[2]  the campaign
--
-- add:  ARGV[3] due (ms), ARGV[4..] batches.  Adds them (a batch already there keeps the
--       earlier due); the index keeps the campaign's earliest due.
-- due:  ARGV[3] now (ms), ARGV[4] at most this many.  The batches due by now, earliest
--       first, left in place: the caller enqueues them, then calls `done`.  A caller that
--       dies in between leaves them for the next one (a batch enqueued twice is harmless:
--       send claims let one copy send).
-- done: ARGV[3..] batches.  Removes them; the index gets the next due, or loses the
--       campaign when nothing of it is left.
-- Returns: add, done: how many changed; due: the batches.
local sched, index, mode, campaign = KEYS[1], KEYS[2], ARGV[1], ARGV[2]

local function reindex()
  local first = redis.call('ZRANGE', sched, 0, 0, 'WITHSCORES')
  if #first == 0 then
    redis.call('ZREM', index, campaign)
  else
    redis.call('ZADD', index, first[2], campaign)
  end
end

if mode == 'add' then
  local due, n = tonumber(ARGV[3]), 0
  for i = 4, #ARGV do n = n + redis.call('ZADD', sched, 'LT', 'CH', due, ARGV[i]) end
  reindex()
  return n
end

if mode == 'due' then
  return redis.call('ZRANGE', sched, '-inf', ARGV[3], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[4]))
end

local n = 0
for i = 3, #ARGV do n = n + redis.call('ZREM', sched, ARGV[i]) end
reindex()
return n

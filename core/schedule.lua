-- Batches to enqueue later, kept in Redis until they are due (not in a worker's memory,
-- as dramatiq's delayed messages are): a campaign that starts tomorrow, destinations
-- outside their delivery window, long deferrals.
--
-- KEYS[1]  the campaign's scheduled batches (zset: batch JSON -> due, ms); the due index
--          (campaign -> earliest due) is the caller's to keep (core/schedule.py): it is a
--          global key, in another Redis Cluster slot
-- ARGV[1]  mode: add | due | done       ARGV[2]  the campaign
--
-- add:  ARGV[3] due (ms), ARGV[4..] batches.  Adds them (a batch already there keeps the
--       earlier due).
-- due:  ARGV[3] now (ms), ARGV[4] at most this many.  The batches due by now, earliest
--       first, left in place: the caller enqueues them, then calls `done`.  A caller that
--       dies in between leaves them for the next one (a batch enqueued twice is harmless:
--       send claims let one copy send).
-- done: ARGV[3..] batches.  Removes them.
-- Returns: add, done: {how many changed, the earliest due left (ms) or ''}; due: the batches.
local sched, mode = KEYS[1], ARGV[1]

local function changed(n)
  local first = redis.call('ZRANGE', sched, 0, 0, 'WITHSCORES')
  return {n, first[2] or ''}
end

if mode == 'add' then
  local due, n = tonumber(ARGV[3]), 0
  for i = 4, #ARGV do n = n + redis.call('ZADD', sched, 'LT', 'CH', due, ARGV[i]) end
  return changed(n)
end

if mode == 'due' then
  return redis.call('ZRANGE', sched, '-inf', ARGV[3], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[4]))
end

local n = 0
for i = 3, #ARGV do n = n + redis.call('ZREM', sched, ARGV[i]) end
return changed(n)

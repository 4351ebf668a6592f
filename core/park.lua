-- Park a batch of a paused campaign, atomically with the pause check.
-- KEYS[1] the campaign's meta hash   KEYS[2] its parked list
-- ARGV[1] a reason to pause the campaign with ('' : only park if it is paused)
-- ARGV[2] the batch (JSON, as it travels on the queue)
-- Returns 1 when parked; 0 when the campaign is not paused (a resume ran in between):
-- the caller then sends the batch on instead; 2 when the campaign is canceled: nothing
-- is parked, and the caller ends the batch's destinations canceled.  (`cancel` marks
-- the campaign before it empties the list, so no batch is parked behind it.)  Because `resume` clears the pause
-- before it empties the list, a batch is either in the list when resume empties it,
-- or sees the campaign not paused: never parked behind a finished resume.
if redis.call('HEXISTS', KEYS[1], 'canceled') == 1 then
  return 2
end
if ARGV[1] ~= '' then
  redis.call('HSETNX', KEYS[1], 'paused', ARGV[1])
end
if redis.call('HEXISTS', KEYS[1], 'paused') == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0

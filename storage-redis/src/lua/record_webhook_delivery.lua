-- ARGV: 3 webhook id, 4 event id, 5 delivery (JSON), 6 how many to keep.
-- Replaces the delivery of that event, keeps the newest; nothing when the
-- webhook is gone.
local wid = ARGV[3]
if redis.call('EXISTS', k('webhook', wid)) == 0 then return {'ok'} end
local z = k('webhook', wid, 'deliveries')
redis.call('ZREMRANGEBYSCORE', z, ARGV[4], ARGV[4])
redis.call('ZADD', z, ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYRANK', z, 0, -(tonumber(ARGV[6]) + 1))
return {'ok'}

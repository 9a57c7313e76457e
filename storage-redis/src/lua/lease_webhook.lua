-- ARGV: 3 webhook id, 4 node, 5 lease end (Unix ms), 6 now (Unix ms).
-- 'ok' when the lease was free, expired or the node's; else 'refused'.
local wid, node = ARGV[3], ARGV[4]
if redis.call('EXISTS', k('webhook', wid)) == 0 then return {'notfound'} end
local st = k('webhook', wid, 'state')
local holder = redis.call('HGET', st, 'node')
local untilms = tonumber(redis.call('HGET', st, 'until') or '0')
if holder and holder ~= node and untilms >= tonumber(ARGV[6]) then return {'refused'} end
redis.call('HSET', st, 'node', node, 'until', ARGV[5])
return {'ok'}

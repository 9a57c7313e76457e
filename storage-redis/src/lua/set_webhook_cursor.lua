-- ARGV: 3 webhook id, 4 node, 5 cursor. Only while the node holds the lease.
local wid = ARGV[3]
if redis.call('EXISTS', k('webhook', wid)) == 0 then return {'notfound'} end
local st = k('webhook', wid, 'state')
if redis.call('HGET', st, 'node') ~= ARGV[4] then return {'refused'} end
redis.call('HSET', st, 'cursor', ARGV[5])
return {'ok'}

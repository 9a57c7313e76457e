-- ARGV: 3 key (after the prefix), 4 expected current value, 5 new value,
--       6-10 (optional) the audit entry to store with the change
--       (audit_append).
-- Compare-and-set of one record.
local key = P .. ':' .. ARGV[3]
local cur = redis.call('GET', key)
if not cur then return {'notfound'} end
if cur ~= ARGV[4] then return {'retry'} end
redis.call('SET', key, ARGV[5])
if ARGV[6] then audit_append(6) end
return {'ok'}

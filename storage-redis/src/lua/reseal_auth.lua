-- ARGV: 3 auth id, 4 expected current record, 5 new record, 6-10 the audit
--       entry (audit_append).
-- Compare-and-set of an authorization record: writes only while it still
-- holds the record the caller read ('retry' otherwise, or when it is gone).
local key = k('auth', ARGV[3])
if redis.call('GET', key) ~= ARGV[4] then return {'retry'} end
redis.call('SET', key, ARGV[5])
audit_append(6)
return {'ok'}

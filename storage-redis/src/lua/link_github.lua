-- ARGV: 3 user id, 4 githubId, 5 expected current record, 6 new record,
--       7-11 the audit entry (audit_append).
local uid, gid = ARGV[3], ARGV[4]
local cur = redis.call('GET', k('user', uid))
if not cur then return {'notfound'} end
local holder = redis.call('HGET', k('idx', 'github'), gid)
if holder and holder ~= uid then return {'conflict', 'githubId'} end
if cur ~= ARGV[5] then return {'retry'} end
local u = cjson.decode(cur)
-- A link is never overwritten: a user linked to another GitHub account keeps it.
if present(u.githubId) and tostring(u.githubId) ~= gid then return {'conflict', 'githubId'} end
redis.call('SET', k('user', uid), ARGV[6])
redis.call('HSET', k('idx', 'github'), gid, uid)
audit_append(7)
return {'ok'}

-- ARGV: 3 id, 4 email, 5 githubId ('' = none), 6 gate ('first_admin',
--       'first_only', 'admin', 'member'), 7 record as admin, 8 record as member,
--       9 invitation id ('' = none): consumed with the insert, refused when gone,
--       10-14 the audit entry (audit_append).
local id, email, gid, gate, inv = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[9]
local first = redis.call('ZCARD', k('users')) == 0
if gate == 'first_only' and not first then return {'conflict', 'signup'} end
if redis.call('HEXISTS', k('idx', 'email'), email) == 1 then return {'conflict', 'email'} end
if gid ~= '' and redis.call('HEXISTS', k('idx', 'github'), gid) == 1 then
  return {'conflict', 'githubId'}
end
if redis.call('EXISTS', k('user', id)) == 1 then return {'conflict', 'id'} end
if inv ~= '' and redis.call('EXISTS', k('invitation', inv)) == 0 then return {'refused'} end
local role = 'member'
local rec = ARGV[8]
if gate == 'admin' or (first and gate ~= 'member') then role = 'admin'; rec = ARGV[7] end
redis.call('SET', k('user', id), rec)
redis.call('HSET', k('idx', 'email'), email, id)
if gid ~= '' then redis.call('HSET', k('idx', 'github'), gid, id) end
redis.call('ZADD', k('users'), next_seq(), id)
if inv ~= '' then remove_invitation(inv) end
audit_append(10)
return {'ok', role}

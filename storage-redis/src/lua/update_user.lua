-- ARGV: 3 user id, 4 expected current record, 5 new record, 6 new email,
--       7 '1' when the change takes away an active admin (then another
--       active admin must remain), 8-12 the audit entry (audit_append).
-- Compare-and-set of the user record (the change is computed in Rust from
-- the record it read) with the email index kept in step.
local uid, email = ARGV[3], ARGV[6]
local cur = redis.call('GET', k('user', uid))
if not cur then return {'notfound'} end
if cur ~= ARGV[4] then return {'retry'} end
local holder = redis.call('HGET', k('idx', 'email'), email)
if holder and holder ~= uid then return {'conflict', 'email'} end
if ARGV[7] == '1' and not other_active_admin(uid) then return {'refused'} end
local u = cjson.decode(cur)
if u.email ~= email then
  hdel_if(k('idx', 'email'), u.email, uid)
  redis.call('HSET', k('idx', 'email'), email, uid)
end
redis.call('SET', k('user', uid), ARGV[5])
audit_append(8)
return {'ok'}

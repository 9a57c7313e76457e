-- ARGV: 3 invitation id, 4 email, 5 token hash, 6 record, 7-11 the audit
--       entry (audit_append).
local iid, email, token = ARGV[3], ARGV[4], ARGV[5]
if redis.call('HEXISTS', k('idx', 'invemail'), email) == 1 then
  return {'conflict', 'invitationEmail'}
end
if redis.call('HEXISTS', k('idx', 'invtoken'), token) == 1 then return {'conflict', 'id'} end
if redis.call('EXISTS', k('invitation', iid)) == 1 then return {'conflict', 'id'} end
redis.call('SET', k('invitation', iid), ARGV[6])
redis.call('HSET', k('idx', 'invemail'), email, iid)
redis.call('HSET', k('idx', 'invtoken'), token, iid)
redis.call('ZADD', k('invitations'), next_seq(), iid)
audit_append(7)
return {'ok'}

-- ARGV: 3 user id, 4 auth id, 5 index field (kind NUL name), 6 record,
--       7 mode ('create' | 'upsert'), 8 (upsert) id of the record the caller
--       found under the index field, '' for none; (create) the most
--       authorizations the user may keep, '' for no quota; 9-13 the audit
--       entry (audit_append).
local uid, aid, field, rec, mode = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if redis.call('EXISTS', k('user', uid)) == 0 then return {'notfound'} end
if mode == 'create' and ARGV[8] ~= ''
    and redis.call('ZCARD', k('user', uid, 'auths')) >= tonumber(ARGV[8]) then
  return {'refused'}
end
local existing = redis.call('HGET', k('user', uid, 'authidx'), field)
if mode == 'upsert' then
  if (existing or '') ~= ARGV[8] then return {'retry'} end
  if existing then
    redis.call('SET', k('auth', existing), rec)
    audit_append(9)
    return {'ok', existing}
  end
end
if redis.call('EXISTS', k('auth', aid)) == 1 then return {'conflict', 'id'} end
redis.call('SET', k('auth', aid), rec)
redis.call('ZADD', k('user', uid, 'auths'), next_seq(), aid)
if not existing then redis.call('HSET', k('user', uid, 'authidx'), field, aid) end
audit_append(9)
return {'ok', aid}

-- ARGV: 3 user id, 4 token id, 5 token hash, 6 record, 7 the most API tokens
--       the user may keep ('' for no quota), 8-12 the audit entry
--       (audit_append).
-- The user must exist; a clash of the id or the hash is an id conflict.
local uid, tid, hash = ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', k('user', uid)) == 0 then return {'notfound'} end
if ARGV[7] ~= '' and redis.call('ZCARD', k('user', uid, 'apitokens')) >= tonumber(ARGV[7]) then
  return {'refused'}
end
if redis.call('HEXISTS', k('idx', 'apitoken'), hash) == 1 then return {'conflict', 'id'} end
if redis.call('EXISTS', k('apitoken', tid)) == 1 then return {'conflict', 'id'} end
redis.call('SET', k('apitoken', tid), ARGV[6])
redis.call('HSET', k('idx', 'apitoken'), hash, tid)
redis.call('ZADD', k('user', uid, 'apitokens'), next_seq(), tid)
audit_append(8)
return {'ok'}

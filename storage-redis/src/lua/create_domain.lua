-- ARGV: 3 domain id, 4 name, 5 main ('1'/'0'), 6 record, 7-11 the audit entry
--       (audit_append).
local did, name, main = ARGV[3], ARGV[4], ARGV[5] == '1'
if redis.call('HEXISTS', k('idx', 'domain'), name) == 1 then return {'conflict', 'domainName'} end
if main and redis.call('EXISTS', k('maindomain')) == 1 then return {'conflict', 'main'} end
if redis.call('EXISTS', k('domain', did)) == 1 then return {'conflict', 'id'} end
redis.call('SET', k('domain', did), ARGV[6])
redis.call('HSET', k('idx', 'domain'), name, did)
redis.call('ZADD', k('domains'), next_seq(), did)
if main then redis.call('SET', k('maindomain'), did) end
audit_append(7)
return {'ok'}

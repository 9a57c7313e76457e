-- ARGV: 3 domain id, 4-8 the audit entry (audit_append).
local did = ARGV[3]
local raw = redis.call('GET', k('domain', did))
if not raw then return {'notfound'} end
if redis.call('SCARD', k('domain', did, 'networks')) > 0 then return {'conflict', 'networks'} end
local d = cjson.decode(raw)
hdel_if(k('idx', 'domain'), d.domain, did)
if redis.call('GET', k('maindomain')) == did then redis.call('DEL', k('maindomain')) end
redis.call('ZREM', k('domains'), did)
redis.call('DEL', k('domain', did), k('domain', did, 'networks'))
audit_append(4)
return {'ok'}

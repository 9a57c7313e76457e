-- ARGV: 3 user id, 4 auth id, 5-9 the audit entry (audit_append).
local uid, aid = ARGV[3], ARGV[4]
local raw = redis.call('GET', k('auth', aid))
if not raw then return {'notfound'} end
local a = cjson.decode(raw)
if a.userId ~= uid then return {'notfound'} end
redis.call('DEL', k('auth', aid))
redis.call('ZREM', k('user', uid, 'auths'), aid)
local field = a.kind .. '\0' .. a.name
if redis.call('HGET', k('user', uid, 'authidx'), field) == aid then
  redis.call('HDEL', k('user', uid, 'authidx'), field)
  -- Another authorization of the same kind and name takes over the index.
  for _, other in ipairs(redis.call('ZRANGE', k('user', uid, 'auths'), 0, -1)) do
    local o = redis.call('GET', k('auth', other))
    if o then
      local od = cjson.decode(o)
      if od.kind .. '\0' .. od.name == field then
        redis.call('HSET', k('user', uid, 'authidx'), field, other)
        break
      end
    end
  end
end
audit_append(5)
return {'ok'}

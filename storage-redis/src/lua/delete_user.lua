-- ARGV: 3 user id, 4 n, then n triples (project id, event kind, event
-- payload): core's DELETE event of each of the user's projects, oldest
-- first; then the audit entry (audit_append). Deletes the user, their
-- authorizations, API tokens, webhooks and projects and appends the events;
-- 'retry' (nothing written) when the user's projects are not exactly those;
-- refused for the last active admin when other users exist (the instance's
-- only user may go). The audit log keeps the entries that name the user.
local uid = ARGV[3]
local n = tonumber(ARGV[4])
local raw = redis.call('GET', k('user', uid))
if not raw then return {'notfound'} end
local u = cjson.decode(raw)
if is_active_admin(u) and not other_active_admin(uid) and redis.call('ZCARD', k('users')) > 1 then
  return {'refused'}
end
local owned = redis.call('ZRANGE', k('user', uid, 'projects'), 0, -1)
if #owned ~= n then return {'retry'} end
for i, pid in ipairs(owned) do
  if ARGV[2 + 3 * i] ~= pid then return {'retry'} end
end
hdel_if(k('idx', 'email'), u.email, uid)
hdel_if(k('idx', 'github'), u.githubId, uid)
for _, aid in ipairs(redis.call('ZRANGE', k('user', uid, 'auths'), 0, -1)) do
  redis.call('DEL', k('auth', aid))
end
for _, tid in ipairs(redis.call('ZRANGE', k('user', uid, 'apitokens'), 0, -1)) do
  remove_api_token(tid, uid)
end
for _, wid in ipairs(redis.call('ZRANGE', k('user', uid, 'webhooks'), 0, -1)) do
  remove_webhook(wid, uid)
end
for i, pid in ipairs(owned) do
  remove_project(pid, uid)
  emit(uid, pid, ARGV[3 + 3 * i], ARGV[4 + 3 * i])
end
redis.call('DEL', k('user', uid, 'auths'), k('user', uid, 'authidx'),
  k('user', uid, 'apitokens'), k('user', uid, 'webhooks'), k('user', uid, 'projects'), k('user', uid, 'networks'),
  k('user', uid))
redis.call('ZREM', k('users'), uid)
audit_append(5 + 3 * n)
return {'ok'}

-- ARGV: 3 network id, 4 owner, 5 expected project version, 6 new hostname
--       ('' = unchanged), 7 new covering domain id, 8 record, 9 event payload,
--       10 event kind (core built the event from the project at that
--       version), 11-15 the audit entry (audit_append).
local nid, owner, ver, host, did = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local raw = redis.call('GET', k('network', nid))
if not raw then return {'notfound'} end
local n = cjson.decode(raw)
local pid = n.projectId
if not owned_project(pid, owner) then return {'notfound'} end
if not version_is(pid, ver) then return {'retry'} end
if host ~= '' then
  if redis.call('EXISTS', k('domain', did)) == 0 then return {'conflict', 'domain'} end
  local holder = redis.call('HGET', k('idx', 'netdomain'), host)
  if holder and holder ~= nid then return {'conflict', 'domain'} end
  hdel_if(k('idx', 'netdomain'), n.domain, nid)
  redis.call('HSET', k('idx', 'netdomain'), host, nid)
  redis.call('SREM', k('domain', n.domainId, 'networks'), nid)
  redis.call('SADD', k('domain', did, 'networks'), nid)
end
redis.call('SET', k('network', nid), ARGV[8])
redis.call('INCR', k('project', pid, 'ver'))
emit(owner, pid, ARGV[10], ARGV[9])
audit_append(11)
return {'ok'}

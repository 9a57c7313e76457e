-- ARGV: 3 network id, 4 owner, 5 expected project version, 6 event payload,
--       7 event kind (core built the event from the project at that
--       version), 8-12 the audit entry (audit_append).
local nid, owner, ver = ARGV[3], ARGV[4], ARGV[5]
local raw = redis.call('GET', k('network', nid))
if not raw then return {'notfound'} end
local pid = cjson.decode(raw).projectId
if not owned_project(pid, owner) then return {'notfound'} end
if not version_is(pid, ver) then return {'retry'} end
remove_network(nid, owner)
redis.call('INCR', k('project', pid, 'ver'))
emit(owner, pid, ARGV[7], ARGV[6])
audit_append(8)
return {'ok'}

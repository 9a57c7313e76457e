-- ARGV: 3 network id, 4 project id, 5 owner, 6 expected project version,
--       7 hostname, 8 covering domain id, 9 record, 10 event payload and
--       11 event kind (core built the event from the project at that
--       version), 12-16 the audit entry (audit_append).
local nid, pid, owner, ver, host, did = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if not owned_project(pid, owner) then return {'notfound'} end
if not version_is(pid, ver) then return {'retry'} end
if redis.call('EXISTS', k('domain', did)) == 0 then return {'conflict', 'domain'} end
if redis.call('HEXISTS', k('idx', 'netdomain'), host) == 1 then return {'conflict', 'domain'} end
if redis.call('EXISTS', k('network', nid)) == 1 then return {'conflict', 'id'} end
redis.call('SET', k('network', nid), ARGV[9])
local seq = next_seq()
redis.call('ZADD', k('project', pid, 'networks'), seq, nid)
redis.call('ZADD', k('user', owner, 'networks'), seq, nid)
redis.call('SADD', k('domain', did, 'networks'), nid)
redis.call('HSET', k('idx', 'netdomain'), host, nid)
redis.call('INCR', k('project', pid, 'ver'))
emit(owner, pid, ARGV[11], ARGV[10])
audit_append(12)
return {'ok'}

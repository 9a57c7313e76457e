-- ARGV: 3 project id, 4 owner, 5 expected version, 6 sourceId, 7 vmId,
--       8 has path, 9 path, 10 new record, 11 event payload, 12 event kind,
--       13-17 the audit entry (audit_append).
-- The new record and the event were computed by core from the state at the
-- expected version; when the version moved on, nothing is written ('retry':
-- the write is stale).
local pid, owner, ver, src, vm, has_path, path = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8] == '1', ARGV[9]
local p = owned_project(pid, owner)
if not p then return {'notfound'} end
if not version_is(pid, ver) then return {'retry'} end
local function taken(idx, value)
  local holder = redis.call('HGET', k('idx', idx), value)
  return holder and holder ~= pid
end
if taken('source', src) then return {'conflict', 'sourceId'} end
if taken('vm', vm) then return {'conflict', 'vmId'} end
if has_path and taken('path', path) then return {'conflict', 'path'} end
hdel_if(k('idx', 'source'), p.sourceId, pid)
hdel_if(k('idx', 'vm'), p.vmId, pid)
hdel_if(k('idx', 'path'), p.path, pid)
redis.call('HSET', k('idx', 'source'), src, pid)
redis.call('HSET', k('idx', 'vm'), vm, pid)
if has_path then redis.call('HSET', k('idx', 'path'), path, pid) end
redis.call('SET', k('project', pid), ARGV[10])
redis.call('INCR', k('project', pid, 'ver'))
emit(owner, pid, ARGV[12], ARGV[11])
audit_append(13)
return {'ok'}

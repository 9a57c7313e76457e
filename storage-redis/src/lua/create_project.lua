-- ARGV: 3 project id, 4 owner, 5 sourceId, 6 vmId, 7 has path ('1'/'0'),
--       8 path, 9 record, 10 event payload and 11 event kind (the event core
--       built), 12 the owner's quota (the most projects they may own; '' for
--       none), 13-17 the audit entry (audit_append).
local pid, owner, src, vm, has_path, path = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7] == '1', ARGV[8]
if redis.call('EXISTS', k('user', owner)) == 0 then return {'notfound'} end
if ARGV[12] ~= '' and redis.call('ZCARD', k('user', owner, 'projects')) >= tonumber(ARGV[12]) then
  return {'refused'}
end
if redis.call('HEXISTS', k('idx', 'source'), src) == 1 then return {'conflict', 'sourceId'} end
if redis.call('HEXISTS', k('idx', 'vm'), vm) == 1 then return {'conflict', 'vmId'} end
if has_path and redis.call('HEXISTS', k('idx', 'path'), path) == 1 then
  return {'conflict', 'path'}
end
if redis.call('EXISTS', k('project', pid)) == 1 then return {'conflict', 'id'} end
redis.call('SET', k('project', pid), ARGV[9])
redis.call('SET', k('project', pid, 'ver'), '1')
redis.call('HSET', k('idx', 'source'), src, pid)
redis.call('HSET', k('idx', 'vm'), vm, pid)
if has_path then redis.call('HSET', k('idx', 'path'), path, pid) end
redis.call('ZADD', k('user', owner, 'projects'), next_seq(), pid)
local id = emit(owner, pid, ARGV[11], ARGV[10])
audit_append(13)
return {'ok', tostring(id)}

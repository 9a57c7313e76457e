-- ARGV: 3 user id, 4 webhook id, 5 record, 6 cursor, 7 the most webhooks the
--       user may keep ('' for no quota), 8-12 the audit entry (audit_append).
local uid, wid = ARGV[3], ARGV[4]
if redis.call('EXISTS', k('user', uid)) == 0 then return {'notfound'} end
if ARGV[7] ~= '' and redis.call('ZCARD', k('user', uid, 'webhooks')) >= tonumber(ARGV[7]) then
  return {'refused'}
end
if redis.call('EXISTS', k('webhook', wid)) == 1 then return {'conflict', 'id'} end
local seq = next_seq()
redis.call('SET', k('webhook', wid), ARGV[5])
redis.call('HSET', k('webhook', wid, 'state'), 'cursor', ARGV[6])
redis.call('ZADD', k('user', uid, 'webhooks'), seq, wid)
redis.call('ZADD', k('webhooks'), seq, wid)
audit_append(8)
return {'ok'}

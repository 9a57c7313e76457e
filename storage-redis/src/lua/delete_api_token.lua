-- ARGV: 3 user id, 4 token id, 5-9 the audit entry (audit_append). Not found
-- unless the token is the user's.
local uid, tid = ARGV[3], ARGV[4]
local raw = redis.call('GET', k('apitoken', tid))
if not raw then return {'notfound'} end
if cjson.decode(raw).userId ~= uid then return {'notfound'} end
remove_api_token(tid, uid)
audit_append(5)
return {'ok'}

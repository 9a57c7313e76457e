-- ARGV: 3 user id, 4 webhook id, 5-9 the audit entry (audit_append). Not
-- found unless the webhook is the user's.
local uid, wid = ARGV[3], ARGV[4]
local raw = redis.call('GET', k('webhook', wid))
if not raw then return {'notfound'} end
if cjson.decode(raw).userId ~= uid then return {'notfound'} end
remove_webhook(wid, uid)
audit_append(5)
return {'ok'}

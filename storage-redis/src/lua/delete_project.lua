-- ARGV: 3 project id, 4 owner, 5-9 the audit entry (audit_append). Deletes
-- the project with its networks and appends its DELETE event.
local pid, owner = ARGV[3], ARGV[4]
if not owned_project(pid, owner) then return {'notfound'} end
remove_project(pid, owner)
emit(owner, pid, 'DELETE', cjson.encode({id = pid}))
audit_append(5)
return {'ok'}

-- ARGV: 3 project id, 4 owner, 5 event payload, 6 event kind (the event core
-- built), 7-11 the audit entry (audit_append). Deletes the project with its
-- networks and appends the event.
local pid, owner = ARGV[3], ARGV[4]
if not owned_project(pid, owner) then return {'notfound'} end
remove_project(pid, owner)
emit(owner, pid, ARGV[6], ARGV[5])
audit_append(7)
return {'ok'}

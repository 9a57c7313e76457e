-- ARGV: 3 project id, 4 owner. Deletes the project with its networks and
-- appends its DELETE event.
local pid, owner = ARGV[3], ARGV[4]
if not owned_project(pid, owner) then return {'notfound'} end
remove_project(pid, owner)
emit(owner, pid, 'DELETE', cjson.encode({id = pid}))
return {'ok'}

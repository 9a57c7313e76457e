-- ARGV: 3 owner, 4 project id ('' = all of the owner's, oldest first).
-- Answers {{version, record, {network records oldest first}}, ...}: one
-- consistent snapshot, so writers can compute their result from it and
-- guard on the version.
local owner, only = ARGV[3], ARGV[4]
local ids
if only ~= '' then ids = {only} else ids = redis.call('ZRANGE', k('user', owner, 'projects'), 0, -1) end
local out = {}
for _, pid in ipairs(ids) do
  local raw = redis.call('GET', k('project', pid))
  if raw and cjson.decode(raw).ownerId == owner then
    local nets = {}
    for _, nid in ipairs(redis.call('ZRANGE', k('project', pid, 'networks'), 0, -1)) do
      local nr = redis.call('GET', k('network', nid))
      if nr then table.insert(nets, nr) end
    end
    table.insert(out, {redis.call('GET', k('project', pid, 'ver')) or '0', raw, nets})
  end
end
return out

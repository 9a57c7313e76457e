-- ARGV: 3 index ('ids' | 'actor' | 'action'), 4 its user id or action name
--       ('' for 'ids'), 5 upper bound ('+', or '(' .. id: older than id),
--       6 most ids to read.
-- Reads one page of an audit index, newest (greatest id) first. Answers
-- {ids read, last id read ('' for none), entry JSON, ...}: the caller
-- filters the entries and asks again from the last id while pages are full.
local key
if ARGV[3] == 'ids' then key = k('audit', 'ids') else key = k('audit', ARGV[3], ARGV[4]) end
local ids = redis.call('ZREVRANGEBYLEX', key, ARGV[5], '-', 'LIMIT', 0, tonumber(ARGV[6]))
local out = {tostring(#ids), ids[#ids] or ''}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', k('audit'), id)
  if raw then table.insert(out, raw) end
end
return out

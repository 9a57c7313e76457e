-- Deletes audit entries with every index entry (audit_remove). ARGV:
--   3 'before': 4 cut-off in Unix microseconds (exclusive), 5 most entries:
--     one bounded batch of the oldest entries whose `at` is before it;
--   3 'ids': 4.. the ids of the entries to delete.
-- Answers {'ok', entries deleted, ids looked at}.
local deleted, seen = 0, 0
local ids
if ARGV[3] == 'before' then
  ids = redis.call('ZRANGEBYSCORE', k('audit', 'at'), '-inf', '(' .. ARGV[4],
    'LIMIT', 0, tonumber(ARGV[5]))
else
  ids = {}
  for i = 4, #ARGV do table.insert(ids, ARGV[i]) end
end
for _, id in ipairs(ids) do
  seen = seen + 1
  if audit_remove(id) then deleted = deleted + 1 end
end
return {'ok', tostring(deleted), tostring(seen)}

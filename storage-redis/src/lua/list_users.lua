-- ARGV: 3 user id to start after ('' = from the start), 4 most records.
-- Answers {'ok', record, ...} in creation order (the users set is scored by
-- insertion seq), or {'notfound'} when ARGV[3] names no user.
local after, limit = ARGV[3], ARGV[4]
local min = '-inf'
if after ~= '' then
  local score = redis.call('ZSCORE', k('users'), after)
  if not score then return {'notfound'} end
  min = '(' .. score
end
local out = {'ok'}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', k('users'), min, '+inf', 'LIMIT', 0, limit)) do
  local raw = redis.call('GET', k('user', id))
  if raw then table.insert(out, raw) end
end
return out

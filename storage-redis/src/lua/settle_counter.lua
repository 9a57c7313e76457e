-- Ends an attempt (Store::settle_counter). ARGV: 3 key, 4 '1' to keep the
-- attempt counted, '0' to give it back.
local key = k('rl', ARGV[3])
if redis.call('EXISTS', key) == 0 then return {'ok'} end
if tonumber(redis.call('HGET', key, 'p') or '0') > 0 then redis.call('HINCRBY', key, 'p', -1) end
if ARGV[4] == '0' and tonumber(redis.call('HGET', key, 'c') or '0') > 0 then
  redis.call('HINCRBY', key, 'c', -1)
end
return {'ok'}

-- Starts one attempt against a rate-limit counter (Store::hit_counter): a
-- hash with c (attempts of the window) and p (still running), expiring with
-- its window. ARGV: 3 key (opaque, chosen by core), 4 window in ms, 5 limit.
-- Answers {'ok'} when counted, {'retry'} at the limit while attempts are
-- running, {'conflict', <ms left>} at the limit otherwise.
local key = k('rl', ARGV[3])
local window, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local c = tonumber(redis.call('HGET', key, 'c') or '0')
local p = tonumber(redis.call('HGET', key, 'p') or '0')
if c < limit then
  redis.call('HINCRBY', key, 'c', 1)
  redis.call('HINCRBY', key, 'p', 1)
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, window) end
  return {'ok'}
end
if p > 0 then return {'retry'} end
local left = redis.call('PTTL', key)
if left < 0 then left = window end
return {'conflict', tostring(left)}

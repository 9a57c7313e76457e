-- ARGV: 3 setting key, 4 value (JSON), 5-9 the audit entry (audit_append).
-- Writes (replaces) an instance setting.
redis.call('HSET', k('settings'), ARGV[3], ARGV[4])
audit_append(5)
return {'ok'}

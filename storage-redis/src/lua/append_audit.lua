-- ARGV: 3-7 the audit entry (audit_append): one that records no change of
-- state (a sign-in), stored on its own.
audit_append(3)
return {'ok'}

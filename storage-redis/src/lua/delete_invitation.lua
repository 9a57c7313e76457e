-- ARGV: 3 invitation id, 4-8 the audit entry (audit_append).
if not remove_invitation(ARGV[3]) then return {'notfound'} end
audit_append(4)
return {'ok'}

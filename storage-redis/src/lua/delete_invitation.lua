-- ARGV: 3 invitation id.
if not remove_invitation(ARGV[3]) then return {'notfound'} end
return {'ok'}

-- Rate-limit counters are short-lived (a window of minutes) and written on
-- every sign-in, sign-up and WebSocket connect: an UNLOGGED table writes no
-- WAL, so those writes cost no WAL flush on commit. The price, accepted for
-- counters only: after a crash of the database server (not a clean restart)
-- the table is emptied, and standbys do not have it, so the windows start
-- again after a crash or a failover.
ALTER TABLE rate_limits SET UNLOGGED;

-- Exact project quotas without putting one user's creates in single file.
--
-- Each project of a user with a quota holds a slot: a number from 0 to the
-- quota minus one, unique per owner (projects_owner_slot_unique). A user can
-- then never hold more projects than there are slots, however many creates
-- run at once: two creates that pick the same slot conflict at the index
-- (the second waits for the first to commit, fails, and picks again), and
-- creates that pick different slots do not wait for each other. Before,
-- creates counted without a lock, and one user's concurrent creates could
-- overshoot the quota by the number in flight.
--
-- Existing projects get the slots 0, 1, 2, ... per owner, in creation
-- order. A project whose slot is NULL or not below the quota (made while
-- the quota was off or higher) makes its owner's creates lock the user's
-- row and count instead (storage-postgres/src/projects.rs).
ALTER TABLE projects ADD COLUMN slot INTEGER;

UPDATE projects p
SET slot = n.slot
FROM (
    SELECT id, (row_number() OVER (PARTITION BY owner_id ORDER BY seq) - 1)::INTEGER AS slot
    FROM projects
) n
WHERE p.id = n.id;

CREATE UNIQUE INDEX projects_owner_slot_unique ON projects (owner_id, slot);

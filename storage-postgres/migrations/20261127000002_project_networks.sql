-- A copy of each project's networks, oldest first, on the project's own row,
-- so that reading a project (the most common authenticated request) is one
-- primary-key lookup. The networks table stays the source of truth: the
-- store rewrites this column from it in the same transaction as every
-- network write (projects.rs, `append_update`).
ALTER TABLE projects ADD COLUMN networks JSONB NOT NULL DEFAULT '[]'::jsonb;

UPDATE projects p SET networks = COALESCE(
    (SELECT jsonb_agg(jsonb_build_object(
                'id', n.id, 'domain', n.domain, 'port', n.port,
                'domain_id', n.domain_id, 'created_at', n.created_at)
            ORDER BY n.seq)
     FROM networks n WHERE n.project_id = p.id),
    '[]'::jsonb);

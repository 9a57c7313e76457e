//! Projects and their network connections; every write appends its event in
//! the same transaction.
//!
//! Every write persists what core computed (the record and its event). A
//! project update is one compare-and-swap `UPDATE` on the row
//! (`Store::update_project`); a network write locks its project's row
//! (`FOR UPDATE`), checks it still holds the state core read
//! (`Project::same_state`, else `Stale`), writes the network and refreshes
//! the row's copy of its networks, so the event core built from that state
//! is exactly the project after the write.

use slipway_core::model::{AuditEntry, Network, NewEvent, Project, Timestamp};
use slipway_core::model::{NetworkId, ProjectId, UserId};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;
use sqlx::PgConnection;

use crate::audit;
use crate::events;
use crate::store::{micros, Db, PgStore};

#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: String,
    owner_id: String,
    name: String,
    description: Option<String>,
    path: Option<String>,
    source_id: String,
    vm_id: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        Project {
            id: r.id.into(),
            owner_id: r.owner_id.into(),
            name: r.name,
            description: r.description,
            path: r.path,
            source_id: r.source_id,
            vm_id: r.vm_id,
            networks: Vec::new(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct NetworkRow {
    id: String,
    domain: String,
    port: i32,
    project_id: String,
    domain_id: String,
    created_at: Timestamp,
}

impl From<NetworkRow> for Network {
    fn from(r: NetworkRow) -> Self {
        Network {
            id: r.id.into(),
            domain: r.domain,
            port: u16::try_from(r.port).unwrap_or(0),
            project_id: r.project_id.into(),
            domain_id: r.domain_id.into(),
            created_at: r.created_at,
        }
    }
}

/// Columns of a project, in [`ProjectRow`] order.
macro_rules! project_cols {
    () => {
        "id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at"
    };
}

/// Columns of a network, in [`NetworkRow`] order (`n.` qualified).
macro_rules! network_cols {
    () => {
        "n.id, n.domain, n.port, n.project_id, n.domain_id, n.created_at"
    };
}

/// A network as the project's `networks` column keeps it.
#[derive(serde::Deserialize)]
struct NetworkJson {
    id: String,
    domain: String,
    port: i32,
    domain_id: String,
    created_at: Timestamp,
}

/// A project row with its `networks` column.
#[derive(sqlx::FromRow)]
struct ProjectWithNetworks {
    #[sqlx(flatten)]
    project: ProjectRow,
    networks: sqlx::types::Json<Vec<NetworkJson>>,
}

impl From<ProjectWithNetworks> for Project {
    fn from(r: ProjectWithNetworks) -> Self {
        let mut project = Project::from(r.project);
        project.networks = into_networks(r.networks.0, &project.id);
        project
    }
}

/// The networks of project `project_id` from its `networks` column.
fn into_networks(networks: Vec<NetworkJson>, project_id: &str) -> Vec<Network> {
    networks
        .into_iter()
        .map(|n| {
            Network::from(NetworkRow {
                id: n.id,
                domain: n.domain,
                port: n.port,
                project_id: project_id.to_string(),
                domain_id: n.domain_id,
                created_at: n.created_at,
            })
        })
        .collect()
}

/// The unique index of `(owner_id, slot)` (migration `project_slots`).
const SLOT_CONSTRAINT: &str = "projects_owner_slot_unique";

/// How often a create starts again after its slot was taken.
const SLOT_TRIES: u32 = 8;

/// The slot a new project of `owner_id` takes in its owner's quota of
/// `max` projects (`None`: no quota, or one too large for a slot), in the
/// create's transaction; `Refused` when the owner has `max` projects.
///
/// The quota is exact because slots are unique per owner and below `max`
/// (`migrations/20261203000001_project_slots.sql`). While the owner holds
/// fewer than half of `max` and every project has a slot below it, the
/// slot is drawn at random without a lock: concurrent creates of one owner
/// rarely draw the same one, and do not wait for each other. Otherwise
/// (a later attempt, an owner near the quota, or a project without a slot
/// below `max`) the owner's row is locked, so the owner's locked creates
/// run one at a time, and the count is taken again under the lock.
async fn pick_slot(
    conn: &mut PgConnection,
    owner_id: &str,
    max: usize,
    attempt: u32,
) -> StoreResult<Option<i32>> {
    let Ok(max_slots) = i32::try_from(max) else {
        if max != usize::MAX {
            // A quota beyond any slot: counted without a lock.
            let owned: i64 = sqlx::query_scalar(COUNT_PROJECTS)
                .bind(owner_id)
                .fetch_one(&mut *conn)
                .await
                .db()?;
            if usize::try_from(owned).unwrap_or(0) >= max {
                return Err(StoreError::Refused);
            }
        }
        return Ok(None);
    };
    let (owned, outside): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE slot IS NULL OR slot >= $2) \
         FROM projects WHERE owner_id = $1",
    )
    .bind(owner_id)
    .bind(max_slots)
    .fetch_one(&mut *conn)
    .await
    .db()?;
    if owned >= i64::from(max_slots) {
        return Err(StoreError::Refused);
    }
    if outside == 0 && owned * 2 < i64::from(max_slots) && attempt < SLOT_TRIES / 2 {
        let drawn = uuid::Uuid::new_v4().as_u128() % u128::from(max_slots.unsigned_abs());
        return Ok(Some(i32::try_from(drawn).unwrap_or(0)));
    }
    crate::users::lock_user_for_quota(conn, owner_id).await?;
    let (owned, taken): (i64, Vec<i32>) = sqlx::query_as(
        "SELECT count(*), coalesce(array_agg(slot ORDER BY slot) \
         FILTER (WHERE slot >= 0 AND slot < $2), '{}') FROM projects WHERE owner_id = $1",
    )
    .bind(owner_id)
    .bind(max_slots)
    .fetch_one(&mut *conn)
    .await
    .db()?;
    if owned >= i64::from(max_slots) {
        return Err(StoreError::Refused);
    }
    free_slot(&taken, max_slots)
        .map(Some)
        .ok_or(StoreError::Refused)
}

/// A free slot below `max`, given the taken ones in ascending order: a
/// random one of the free slots, so that unlocked creates drawing at the
/// same time rarely collide with it.
fn free_slot(taken: &[i32], max: i32) -> Option<i32> {
    let free = i64::from(max) - i64::try_from(taken.len()).ok()?;
    if free <= 0 {
        return None;
    }
    // The n-th free slot is n plus the number of taken slots at or below it.
    let mut slot = i64::try_from(uuid::Uuid::new_v4().as_u128() % free as u128).ok()?;
    for &t in taken {
        if i64::from(t) <= slot {
            slot += 1;
        } else {
            break;
        }
    }
    i32::try_from(slot).ok().filter(|s| *s < max)
}

/// An owner's projects: `Store::count_projects` and a create's quota.
const COUNT_PROJECTS: &str = "SELECT count(*) FROM projects WHERE owner_id = $1";

impl PgStore {
    /// After a write to a (locked) project's networks: rewrites the
    /// project's copy of its networks from the networks table.
    async fn refresh_networks(conn: &mut PgConnection, project_id: &ProjectId) -> StoreResult<()> {
        sqlx::query(
            "UPDATE projects SET networks = COALESCE(\
             (SELECT jsonb_agg(jsonb_build_object('id', n.id, 'domain', n.domain, \
             'port', n.port, 'domain_id', n.domain_id, 'created_at', n.created_at) \
             ORDER BY n.seq) FROM networks n WHERE n.project_id = $1), '[]'::jsonb) \
             WHERE id = $1",
        )
        .bind(project_id)
        .execute(&mut *conn)
        .await
        .db()?;
        Ok(())
    }

    /// Locks the project `before` was read from (`FOR UPDATE`, with its
    /// networks) and checks it still holds `before`'s state: `NotFound` when
    /// it is gone or not `before.owner_id`'s, `Stale` when it changed.
    async fn lock_unchanged(conn: &mut PgConnection, before: &Project) -> StoreResult<Project> {
        let row: Option<ProjectWithNetworks> = sqlx::query_as(concat!(
            "SELECT ",
            project_cols!(),
            ", networks FROM projects WHERE id = $1 AND owner_id = $2 FOR UPDATE"
        ))
        .bind(&before.id)
        .bind(&before.owner_id)
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        let stored = Project::from(row.ok_or(StoreError::NotFound)?);
        if before.same_state(&stored) {
            Ok(stored)
        } else {
            Err(StoreError::Stale)
        }
    }

    /// The rest of every network write after its change: the project's copy
    /// of its networks, the audit entry and core's event, then the commit.
    async fn finish_network_write(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        project_id: &ProjectId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        Self::refresh_networks(&mut tx, project_id).await?;
        audit::insert(&mut *tx, audit).await?;
        events::append(&mut tx, event, self.inner.options.event_retention)
            .await
            .db()?;
        self.commit_events(tx).await
    }

    /// One transaction: the owner's quota and the project's slot in it
    /// ([`pick_slot`]), then the project row, the audit row and the event.
    /// A create whose slot another create of the same owner took first
    /// starts again (at most [`SLOT_TRIES`] times; after half of them it
    /// locks the owner's row and takes a free slot).
    pub(crate) async fn pg_create_project(
        &self,
        project: Project,
        max_owned: usize,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<Project> {
        let mut project = project;
        project.networks.clear();
        project.created_at = micros(project.created_at);
        project.updated_at = micros(project.updated_at);
        for attempt in 0..SLOT_TRIES {
            let mut tx = self.inner.pool.begin().await.db()?;
            let slot = pick_slot(&mut tx, &project.owner_id, max_owned, attempt).await?;
            let inserted = sqlx::query(
                "INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, \
                 created_at, updated_at, slot) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&project.id)
            .bind(&project.owner_id)
            .bind(&project.name)
            .bind(&project.description)
            .bind(&project.path)
            .bind(&project.source_id)
            .bind(&project.vm_id)
            .bind(project.created_at)
            .bind(project.updated_at)
            .bind(slot)
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(e) if crate::error::is_unique_violation(&e, SLOT_CONSTRAINT) => continue,
                other => other.db()?,
            };
            audit::insert(&mut *tx, audit).await?;
            events::append(&mut tx, event, self.inner.options.event_retention)
                .await
                .db()?;
            self.commit_events(tx).await?;
            return Ok(project);
        }
        Err(StoreError::unavailable(
            "too many concurrent creates of this user's projects took the same quota slots",
        ))
    }

    pub(crate) async fn pg_count_projects(&self, owner_id: &UserId) -> StoreResult<usize> {
        let n: i64 = sqlx::query_scalar(COUNT_PROJECTS)
            .bind(owner_id)
            .fetch_one(&self.inner.pool)
            .await
            .db()?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn pg_list_projects(&self, owner_id: &UserId) -> StoreResult<Vec<Project>> {
        let rows: Vec<ProjectWithNetworks> = sqlx::query_as(concat!(
            "SELECT ",
            project_cols!(),
            ", networks FROM projects WHERE owner_id = $1 ORDER BY seq"
        ))
        .bind(owner_id)
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        Ok(rows.into_iter().map(Project::from).collect())
    }

    /// One primary-key lookup: the project row carries its networks
    /// (`projects.networks`, kept in step by [`Self::append_update`]).
    pub(crate) async fn pg_get_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
    ) -> StoreResult<Project> {
        let row: Option<ProjectWithNetworks> = sqlx::query_as(concat!(
            "SELECT ",
            project_cols!(),
            ", networks FROM projects WHERE id = $1 AND owner_id = $2"
        ))
        .bind(id)
        .bind(owner_id)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        row.map(Project::from).ok_or(StoreError::NotFound)
    }

    /// One compare-and-swap `UPDATE`: it matches only while the row still
    /// holds `before`'s fields and networks (the row's copy of them, kept in
    /// step under the row lock by [`Self::append_update`]); PostgreSQL
    /// re-checks the condition on the newest row version after waiting for
    /// a concurrent writer. No match: the project is gone (or not the
    /// owner's) or it changed, told apart by one more read.
    pub(crate) async fn pg_update_project(
        &self,
        before: &Project,
        after: &Project,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let networks: Vec<serde_json::Value> = before
            .networks
            .iter()
            .map(|n| serde_json::json!([n.id, n.domain, n.port, n.domain_id]))
            .collect();
        let mut tx = self.inner.pool.begin().await.db()?;
        let done = sqlx::query(
            "UPDATE projects SET name = $3, description = $4, path = $5, source_id = $6, \
             vm_id = $7, updated_at = $8 \
             WHERE id = $1 AND owner_id = $2 AND name = $9 \
             AND description IS NOT DISTINCT FROM $10 AND path IS NOT DISTINCT FROM $11 \
             AND source_id = $12 AND vm_id = $13 \
             AND (SELECT COALESCE(jsonb_agg(jsonb_build_array(n->'id', n->'domain', n->'port', \
             n->'domain_id') ORDER BY i), '[]'::jsonb) \
             FROM jsonb_array_elements(networks) WITH ORDINALITY AS t(n, i)) = $14",
        )
        .bind(&before.id)
        .bind(&before.owner_id)
        .bind(&after.name)
        .bind(&after.description)
        .bind(&after.path)
        .bind(&after.source_id)
        .bind(&after.vm_id)
        .bind(micros(after.updated_at))
        .bind(&before.name)
        .bind(&before.description)
        .bind(&before.path)
        .bind(&before.source_id)
        .bind(&before.vm_id)
        .bind(sqlx::types::Json(networks))
        .execute(&mut *tx)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1 AND owner_id = $2)",
            )
            .bind(&before.id)
            .bind(&before.owner_id)
            .fetch_one(&mut *tx)
            .await
            .db()?;
            return Err(if exists {
                StoreError::Stale
            } else {
                StoreError::NotFound
            });
        }
        audit::insert(&mut *tx, audit).await?;
        events::append(&mut tx, event, self.inner.options.event_retention)
            .await
            .db()?;
        self.commit_events(tx).await?;
        Ok(())
    }

    pub(crate) async fn pg_delete_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.inner.pool.begin().await.db()?;
        // Networks go by ON DELETE CASCADE.
        let done = sqlx::query("DELETE FROM projects WHERE id = $1 AND owner_id = $2")
            .bind(id)
            .bind(owner_id)
            .execute(&mut *tx)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        audit::insert(&mut *tx, audit).await?;
        events::append(&mut tx, event, self.inner.options.event_retention)
            .await
            .db()?;
        self.commit_events(tx).await?;
        Ok(())
    }

    pub(crate) async fn pg_create_network(
        &self,
        before: &Project,
        network: Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.inner.pool.begin().await.db()?;
        Self::lock_unchanged(&mut tx, before).await?;
        // A taken hostname or a deleted covering domain fail here by
        // constraint (networks_domain_key, networks_domain_id_fkey).
        sqlx::query(
            "INSERT INTO networks (id, domain, port, project_id, domain_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&network.id)
        .bind(&network.domain)
        .bind(i32::from(network.port))
        .bind(&before.id)
        .bind(&network.domain_id)
        .bind(micros(network.created_at))
        .execute(&mut *tx)
        .await
        .db()?;
        self.finish_network_write(tx, &before.id, event, audit)
            .await
    }

    pub(crate) async fn pg_list_networks(
        &self,
        owner_id: &UserId,
        project_id: Option<&ProjectId>,
    ) -> StoreResult<Vec<Network>> {
        let rows: Vec<NetworkRow> = sqlx::query_as(concat!(
            "SELECT ",
            network_cols!(),
            " FROM networks n JOIN projects p ON p.id = n.project_id \
             WHERE p.owner_id = $1 AND ($2::text IS NULL OR n.project_id = $2) ORDER BY n.seq"
        ))
        .bind(owner_id)
        .bind(project_id)
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        Ok(rows.into_iter().map(Network::from).collect())
    }

    pub(crate) async fn pg_get_network(
        &self,
        owner_id: &UserId,
        id: &NetworkId,
    ) -> StoreResult<Network> {
        let row: Option<NetworkRow> = sqlx::query_as(concat!(
            "SELECT ",
            network_cols!(),
            " FROM networks n JOIN projects p ON p.id = n.project_id \
             WHERE n.id = $1 AND p.owner_id = $2"
        ))
        .bind(id)
        .bind(owner_id)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        row.map(Network::from).ok_or(StoreError::NotFound)
    }

    pub(crate) async fn pg_update_network(
        &self,
        before: &Project,
        after: &Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        if before.network(&after.id).is_none() {
            return Err(StoreError::NotFound);
        }
        let mut tx = self.inner.pool.begin().await.db()?;
        Self::lock_unchanged(&mut tx, before).await?;
        let done = sqlx::query(
            "UPDATE networks SET domain = $3, domain_id = $4, port = $5 \
             WHERE id = $1 AND project_id = $2",
        )
        .bind(&after.id)
        .bind(&before.id)
        .bind(&after.domain)
        .bind(&after.domain_id)
        .bind(i32::from(after.port))
        .execute(&mut *tx)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.finish_network_write(tx, &before.id, event, audit)
            .await
    }

    pub(crate) async fn pg_delete_network(
        &self,
        before: &Project,
        id: &NetworkId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        if before.network(id).is_none() {
            return Err(StoreError::NotFound);
        }
        let mut tx = self.inner.pool.begin().await.db()?;
        Self::lock_unchanged(&mut tx, before).await?;
        let done = sqlx::query("DELETE FROM networks WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(&before.id)
            .execute(&mut *tx)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.finish_network_write(tx, &before.id, event, audit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::free_slot;

    #[test]
    fn a_free_slot_is_below_max_and_not_taken() {
        for taken in [
            vec![],
            vec![0],
            vec![1, 2],
            vec![0, 1, 2, 3, 5, 8],
            vec![0, 2, 4, 6, 7],
        ] {
            for _ in 0..200 {
                let slot = free_slot(&taken, 9).unwrap();
                assert!((0..9).contains(&slot), "{slot}");
                assert!(!taken.contains(&slot), "{slot} of {taken:?}");
            }
        }
        // Every free slot comes up.
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            seen.insert(free_slot(&[1, 3], 6).unwrap());
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![0, 2, 4, 5]);
        assert_eq!(free_slot(&[0, 1, 2], 3), None);
        assert_eq!(free_slot(&[], 0), None);
    }
}

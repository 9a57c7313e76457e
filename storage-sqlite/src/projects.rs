//! Projects and their network connections; every write appends its event in
//! the same transaction, on the one writer connection, so two writes to one
//! project take turns and each event carries the project as it is after that
//! write (networks included). Project writes persist what core computed (the
//! record and its event); an update is a compare-and-swap
//! (`Store::update_project`).

use slipway_core::error::Unique;
use slipway_core::model::{AuditEntry, Network, NewEvent, Project, Timestamp};
use slipway_core::model::{NetworkId, ProjectId, UserId};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;
use sqlx::{Connection as _, SqliteConnection};

use crate::audit;
use crate::error::{write_failed, Probe, Value};
use crate::store::{Db, SqliteStore};

/// Columns of a project, in [`ProjectRow`] order.
const PROJECT_COLS: &str =
    "id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at";

/// Columns of a network, in [`NetworkRow`] order (`n.` qualified).
const NETWORK_COLS: &str = "n.id, n.domain, n.port, n.project_id, n.domain_id, n.created_at";

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
    port: i64,
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

/// A project row with its networks as one JSON array, oldest first: one
/// statement reads a project with its networks, from one snapshot.
#[derive(sqlx::FromRow)]
struct ProjectWithNetworks {
    #[sqlx(flatten)]
    project: ProjectRow,
    networks: String,
}

/// A network as [`WITH_NETWORKS`] renders it.
#[derive(serde::Deserialize)]
struct NetworkJson {
    id: String,
    domain: String,
    port: i64,
    domain_id: String,
    created_at: Timestamp,
}

impl TryFrom<ProjectWithNetworks> for Project {
    type Error = StoreError;
    fn try_from(r: ProjectWithNetworks) -> StoreResult<Project> {
        let networks: Vec<NetworkJson> =
            serde_json::from_str(&r.networks).map_err(StoreError::other)?;
        let mut project = Project::from(r.project);
        project.networks = networks
            .into_iter()
            .map(|n| {
                Network::from(NetworkRow {
                    id: n.id,
                    domain: n.domain,
                    port: n.port,
                    project_id: project.id.clone().into(),
                    domain_id: n.domain_id,
                    created_at: n.created_at,
                })
            })
            .collect();
        Ok(project)
    }
}

/// The columns of a project (table alias `p`) and its networks as a JSON
/// array ordered oldest first (`ORDER BY` inside an aggregate: SQLite 3.44+,
/// the bundled SQLite is newer).
const WITH_NETWORKS: &str = "p.id, p.owner_id, p.name, p.description, p.path, p.source_id, \
     p.vm_id, p.created_at, p.updated_at, \
     (SELECT json_group_array(json_object('id', n.id, 'domain', n.domain, 'port', n.port, \
     'domain_id', n.domain_id, 'created_at', n.created_at) ORDER BY n.seq) \
     FROM networks n WHERE n.project_id = p.id) AS networks";

/// The unique indexes of `projects` a write of `project` can hit.
fn project_probes(p: &Project) -> [Probe<'_>; 3] {
    [
        Probe {
            index: "projects_source_id_key",
            sql: "SELECT 1 FROM projects WHERE source_id = ?1 AND id <> ?2",
            value: Value::Text(Some(&p.source_id)),
        },
        Probe {
            index: "projects_vm_id_key",
            sql: "SELECT 1 FROM projects WHERE vm_id = ?1 AND id <> ?2",
            value: Value::Text(Some(&p.vm_id)),
        },
        Probe {
            index: "projects_path_key",
            sql: "SELECT 1 FROM projects WHERE path = ?1 AND id <> ?2",
            value: Value::Text(p.path.as_deref()),
        },
    ]
}

/// The unique index of `networks` a write of hostname `domain` can hit.
fn network_probes(domain: &str) -> [Probe<'_>; 1] {
    [Probe {
        index: "networks_domain_key",
        sql: "SELECT 1 FROM networks WHERE domain = ?1 AND id <> ?2",
        value: Value::Text(Some(domain)),
    }]
}

/// The project `before` was read from, with its networks, read again in
/// the writer's transaction: `NotFound` when it is gone or not
/// `before.owner_id`'s, `Stale` when it no longer holds `before`'s state.
async fn unchanged(conn: &mut SqliteConnection, before: &Project) -> StoreResult<Project> {
    let row: Option<ProjectWithNetworks> = sqlx::query_as(&format!(
        "SELECT {WITH_NETWORKS} FROM projects p WHERE p.id = ?1 AND p.owner_id = ?2"
    ))
    .bind(&before.id)
    .bind(&before.owner_id)
    .fetch_optional(conn)
    .await
    .db()?;
    let stored = Project::try_from(row.ok_or(StoreError::NotFound)?)?;
    if before.same_state(&stored) {
        Ok(stored)
    } else {
        Err(StoreError::Stale)
    }
}

/// A network write's failure: a taken hostname, or a covering domain that
/// is gone (the project was checked in the same transaction, so the domain
/// is the only reference that can fail).
async fn network_write_failed(
    conn: &mut SqliteConnection,
    err: sqlx::Error,
    id: &str,
    domain: &str,
) -> StoreError {
    write_failed(conn, err, id, &network_probes(domain), || {
        StoreError::conflict(Unique::NetworkHostname)
    })
    .await
}

impl SqliteStore {
    /// The rest of every project and network write after its change: core's
    /// event and the audit entry, then the commit.
    async fn finish_write(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let event_id = self.append_event(&mut tx, event).await?;
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        self.committed(event_id);
        Ok(())
    }

    pub(crate) async fn lite_create_project(
        &self,
        project: Project,
        max_owned: usize,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<Project> {
        let mut project = project;
        project.networks.clear();
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        within_quota(
            &mut tx,
            "SELECT count(*) FROM projects WHERE owner_id = ?1",
            &project.owner_id,
            max_owned,
        )
        .await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO projects ({PROJECT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))
        .bind(&project.id)
        .bind(&project.owner_id)
        .bind(&project.name)
        .bind(&project.description)
        .bind(&project.path)
        .bind(&project.source_id)
        .bind(&project.vm_id)
        .bind(project.created_at)
        .bind(project.updated_at)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            // The owner is the only reference: a missing one is NotFound.
            return Err(
                write_failed(&mut tx, e, &project.id, &project_probes(&project), || {
                    StoreError::NotFound
                })
                .await,
            );
        }
        let event_id = self.append_event(&mut tx, event).await?;
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        self.committed(event_id);
        Ok(project)
    }

    pub(crate) async fn lite_count_projects(&self, owner_id: &UserId) -> StoreResult<usize> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE owner_id = ?1")
            .bind(owner_id)
            .fetch_one(&self.inner.readers)
            .await
            .db()?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn lite_list_projects(&self, owner_id: &UserId) -> StoreResult<Vec<Project>> {
        let rows: Vec<ProjectWithNetworks> = sqlx::query_as(&format!(
            "SELECT {WITH_NETWORKS} FROM projects p WHERE p.owner_id = ?1 ORDER BY p.seq"
        ))
        .bind(owner_id)
        .fetch_all(&self.inner.readers)
        .await
        .db()?;
        rows.into_iter().map(Project::try_from).collect()
    }

    /// One statement: the project row with its networks.
    pub(crate) async fn lite_get_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
    ) -> StoreResult<Project> {
        let row: Option<ProjectWithNetworks> = sqlx::query_as(&format!(
            "SELECT {WITH_NETWORKS} FROM projects p WHERE p.id = ?1 AND p.owner_id = ?2"
        ))
        .bind(id)
        .bind(owner_id)
        .fetch_optional(&self.inner.readers)
        .await
        .db()?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// A compare-and-swap: on the one writer connection, the project as
    /// stored (with its networks) is read and compared with `before`
    /// ([`Project::same_state`]) in the transaction that writes `after`.
    pub(crate) async fn lite_update_project(
        &self,
        before: &Project,
        after: &Project,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        unchanged(&mut tx, before).await?;
        let updated = sqlx::query(
            "UPDATE projects SET name = ?3, description = ?4, path = ?5, source_id = ?6, \
             vm_id = ?7, updated_at = ?8 WHERE id = ?1 AND owner_id = ?2",
        )
        .bind(&before.id)
        .bind(&before.owner_id)
        .bind(&after.name)
        .bind(&after.description)
        .bind(&after.path)
        .bind(&after.source_id)
        .bind(&after.vm_id)
        .bind(after.updated_at)
        .execute(&mut *tx)
        .await;
        if let Err(e) = updated {
            return Err(
                write_failed(&mut tx, e, &before.id, &project_probes(after), || {
                    StoreError::NotFound
                })
                .await,
            );
        }
        self.finish_write(tx, event, audit).await
    }

    pub(crate) async fn lite_delete_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        // Networks go by ON DELETE CASCADE.
        let done = sqlx::query("DELETE FROM projects WHERE id = ?1 AND owner_id = ?2")
            .bind(id)
            .bind(owner_id)
            .execute(&mut *tx)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.finish_write(tx, event, audit).await
    }

    pub(crate) async fn lite_create_network(
        &self,
        before: &Project,
        network: Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        unchanged(&mut tx, before).await?;
        let inserted = sqlx::query(
            "INSERT INTO networks (id, domain, port, project_id, domain_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&network.id)
        .bind(&network.domain)
        .bind(i64::from(network.port))
        .bind(&before.id)
        .bind(&network.domain_id)
        .bind(network.created_at)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return Err(network_write_failed(&mut tx, e, &network.id, &network.domain).await);
        }
        self.finish_write(tx, event, audit).await
    }

    pub(crate) async fn lite_list_networks(
        &self,
        owner_id: &UserId,
        project_id: Option<&ProjectId>,
    ) -> StoreResult<Vec<Network>> {
        let rows: Vec<NetworkRow> = sqlx::query_as(&format!(
            "SELECT {NETWORK_COLS} FROM networks n JOIN projects p ON p.id = n.project_id \
             WHERE p.owner_id = ?1 AND (?2 IS NULL OR n.project_id = ?2) ORDER BY n.seq"
        ))
        .bind(owner_id)
        .bind(project_id)
        .fetch_all(&self.inner.readers)
        .await
        .db()?;
        Ok(rows.into_iter().map(Network::from).collect())
    }

    pub(crate) async fn lite_get_network(
        &self,
        owner_id: &UserId,
        id: &NetworkId,
    ) -> StoreResult<Network> {
        let row: Option<NetworkRow> = sqlx::query_as(&format!(
            "SELECT {NETWORK_COLS} FROM networks n JOIN projects p ON p.id = n.project_id \
             WHERE n.id = ?1 AND p.owner_id = ?2"
        ))
        .bind(id)
        .bind(owner_id)
        .fetch_optional(&self.inner.readers)
        .await
        .db()?;
        row.map(Network::from).ok_or(StoreError::NotFound)
    }

    pub(crate) async fn lite_update_network(
        &self,
        before: &Project,
        after: &Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        if before.network(&after.id).is_none() {
            return Err(StoreError::NotFound);
        }
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        unchanged(&mut tx, before).await?;
        let updated = sqlx::query(
            "UPDATE networks SET domain = ?3, domain_id = ?4, port = ?5 \
             WHERE id = ?1 AND project_id = ?2",
        )
        .bind(&after.id)
        .bind(&before.id)
        .bind(&after.domain)
        .bind(&after.domain_id)
        .bind(i64::from(after.port))
        .execute(&mut *tx)
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 0 => return Err(StoreError::NotFound),
            Ok(_) => {}
            Err(e) => {
                return Err(network_write_failed(&mut tx, e, &after.id, &after.domain).await);
            }
        }
        self.finish_write(tx, event, audit).await
    }

    pub(crate) async fn lite_delete_network(
        &self,
        before: &Project,
        id: &NetworkId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        if before.network(id).is_none() {
            return Err(StoreError::NotFound);
        }
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        unchanged(&mut tx, before).await?;
        let done = sqlx::query("DELETE FROM networks WHERE id = ?1 AND project_id = ?2")
            .bind(id)
            .bind(&before.id)
            .execute(&mut *tx)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.finish_write(tx, event, audit).await
    }
}

/// A create's quota check: `count` (one `?1`, the owner) counted on the one
/// writer inside the write's transaction, so no other write runs between the
/// count and the insert. `Refused` when it is `max` or more; `usize::MAX`
/// counts nothing.
pub(crate) async fn within_quota(
    conn: &mut SqliteConnection,
    count: &'static str,
    owner: &str,
    max: usize,
) -> StoreResult<()> {
    if max == usize::MAX {
        return Ok(());
    }
    let n: i64 = sqlx::query_scalar(count)
        .bind(owner)
        .fetch_one(&mut *conn)
        .await
        .db()?;
    if usize::try_from(n).unwrap_or(0) >= max {
        return Err(StoreError::Refused);
    }
    Ok(())
}

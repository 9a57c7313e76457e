//! Baselines (f), (g) and (h): the same request as the Slipway scenario,
//! answered by a minimal axum handler (`slipway-bench serve-store-baseline`)
//! that verifies the same JWT as baseline (a), does the storage work the
//! store under test does for that request — its statements or scripts,
//! copied from the storage crates — directly with the driver (sqlx for
//! PostgreSQL and SQLite, the `redis` crate for Redis), against the same
//! database as the Slipway server under test, and serialises the same JSON
//! (core's own `Project`).
//!
//! - (f) `GET /project/{id}`: the store's `get_project` (one statement, or
//!   the `read_projects` script).
//! - (g) `GET /project`: the user read core makes first (`user_of`), then the
//!   store's `list_projects`.
//! - (h) `POST /project`: the user read core makes first, then the store's
//!   `create_project` with its quota check: on PostgreSQL one transaction
//!   (the owner's project count, project row, audit row, the store's
//!   `slipway_append_event`: event row without an id, after assigning the ids
//!   of events committed before it when no one else is) and, after its
//!   commit, the `NOTIFY`; on SQLite one transaction on one writer
//!   connection (the owner's project count, project row, event counter,
//!   event row, pruning, audit row); on Redis the `create_project` script
//!   (quota and uniqueness checks, writes, stream append, audit entry).
//!   The bench raises the quota to [`MAX_PROJECTS`]; it is still checked.
//!
//! With `--no-core-reads` (g) and (h) skip the user read: they are then the
//! store's own statements only.
//!
//! The handlers take no lock of their own: the only serialisation in them is
//! the store's (on PostgreSQL the id assignment, which a writer skips when
//! another holds it, and NOTIFY's commit-time lock after the commit;
//! SQLite's one writer connection; Redis running one script at a time).

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use slipway_core::model::{
    AuditAction, AuditActor, AuditEntry, EventKind, Network, NewEvent, Project, Role,
};
use slipway_postgres::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use slipway_postgres::sqlx::{self as pgsqlx, Connection as _, Row as _};
use slipway_redis::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use slipway_redis::redis::{self, AsyncCommands as _, Script};
use slipway_sqlite::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
};
use slipway_sqlite::SqliteOptions;

use crate::servers::Verifier;

/// The name of baseline (f)'s row.
pub(crate) const BASELINE_F: &str = "baseline (f): same-store handler, read";
/// The name of baseline (g)'s row.
pub(crate) const BASELINE_G: &str = "baseline (g): same-store handler, list";
/// The per-user project quota of the bench's Slipway servers: far above
/// what a run creates, and still checked on every create, by them and by
/// (h) alike.
pub(crate) const MAX_PROJECTS: usize = 1_000_000_000;

/// The name of baseline (h)'s row.
pub(crate) const BASELINE_H: &str = "baseline (h): same-store handler, create";

/// Which request a same-store baseline answers (the server answers all
/// three; this only names the row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// (f) `GET /project/{id}`.
    Read,
    /// (g) `GET /project`.
    List,
    /// (h) `POST /project`.
    Create,
}

impl Request {
    /// The baseline's row name.
    pub(crate) fn baseline(self) -> &'static str {
        match self {
            Request::Read => BASELINE_F,
            Request::List => BASELINE_G,
            Request::Create => BASELINE_H,
        }
    }

    /// What the handler does for it on `store`, for the row's notes.
    pub(crate) fn describe(self, store: &str, core_reads: bool) -> String {
        let pre = |what: &str| {
            if core_reads {
                format!("{what}, then ")
            } else {
                String::new()
            }
        };
        let work = match (self, store) {
            (Request::Read, "redis") => "the read_projects script (EVALSHA)".to_string(),
            (Request::Read, _) => "the store's project + networks SELECT".to_string(),
            (Request::List, "redis") => format!(
                "{}the read_projects script for all 50",
                pre("GET of the user record")
            ),
            (Request::List, _) => format!(
                "{}the store's list SELECT (50 rows with networks)",
                pre("the user SELECT")
            ),
            (Request::Create, "redis") => format!(
                "{}the create_project script (quota and uniqueness checks, writes, XADD, \
                 audit entry)",
                pre("GET of the user record")
            ),
            (Request::Create, "sqlite") => format!(
                "{}one transaction on the one writer connection (count(*) of the owner's \
                 projects, INSERT project, event counter, INSERT event, prune, INSERT audit_log; \
                 WAL, synchronous = FULL)",
                pre("the user SELECT")
            ),
            (Request::Create, _) => format!(
                "{}one transaction (count(*) of the owner's projects, INSERT project, \
                 INSERT audit_log, slipway_append_event), then NOTIFY",
                pre("the user SELECT")
            ),
        };
        format!(
            "minimal axum handler in a child process: JWT verify as (a), {work}, core's Project \
             JSON; same database as the server under test"
        )
    }
}

// ---- the storage work ------------------------------------------------------

/// The driver-level connections of one store.
enum Backend {
    Pg(PgPool),
    Lite {
        readers: SqlitePool,
        writer: SqlitePool,
    },
    Redis {
        conn: ConnectionManager,
        prefix: String,
    },
}

/// Why a handler could not answer 200/201.
enum Fail {
    NotFound,
    Conflict,
    Other(String),
}

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Other(e.to_string())
    }
}

type Res<T> = Result<T, Fail>;

/// PostgreSQL: PgStore's columns and statements (storage-postgres).
mod pg {
    pub(super) const PROJECT: &str = "SELECT id, owner_id, name, description, path, source_id, \
         vm_id, created_at, updated_at, networks FROM projects WHERE id = $1 AND owner_id = $2";
    pub(super) const LIST: &str = "SELECT id, owner_id, name, description, path, source_id, \
         vm_id, created_at, updated_at, networks FROM projects WHERE owner_id = $1 ORDER BY seq";
    pub(super) const USER: &str = "SELECT id, name, email, role, password_hash, github_id, \
         created_at, disabled, session_epoch FROM users WHERE id = $1";
    /// The quota count, and the projects without a slot below the quota.
    pub(super) const COUNT: &str = "SELECT count(*), count(*) FILTER (WHERE slot IS NULL OR \
         slot >= $2) FROM projects WHERE owner_id = $1";
    /// With the project's quota slot (a random one: far below the quota).
    pub(super) const INSERT: &str = "INSERT INTO projects (id, owner_id, name, description, \
         path, source_id, vm_id, created_at, updated_at, slot) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    pub(super) const AUDIT: &str = "INSERT INTO audit_log (id, at, actor_id, action, entry) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING";
    /// The store's events::append: the event row without an id (assigning
    /// the ids of events committed before it when no one else is).
    pub(super) const EVENT: &str = "SELECT slipway_append_event($1, $2, $3, $4, $5)";
    /// The store's events::notify, after the commit.
    pub(super) const NOTIFY: &str =
        "SELECT set_config('synchronous_commit', 'off', TRUE), pg_notify($1, '')";
    /// PgStore's NOTIFY channel.
    pub(super) const CHANNEL: &str = "slipway_events";
}

/// SQLite: SqliteStore's columns and statements (storage-sqlite).
mod lite {
    const WITH_NETWORKS: &str = "p.id, p.owner_id, p.name, p.description, p.path, \
         p.source_id, p.vm_id, p.created_at, p.updated_at, \
         (SELECT json_group_array(json_object('id', n.id, 'domain', n.domain, 'port', n.port, \
         'domain_id', n.domain_id, 'created_at', n.created_at) ORDER BY n.seq) \
         FROM networks n WHERE n.project_id = p.id) AS networks";
    pub(super) fn project() -> String {
        format!("SELECT {WITH_NETWORKS} FROM projects p WHERE p.id = ?1 AND p.owner_id = ?2")
    }
    pub(super) fn list() -> String {
        format!("SELECT {WITH_NETWORKS} FROM projects p WHERE p.owner_id = ?1 ORDER BY p.seq")
    }
    pub(super) const USER: &str = "SELECT id, name, email, role, password_hash, github_id, \
         created_at, disabled, session_epoch FROM users WHERE id = ?1";
    pub(super) const COUNT: &str = "SELECT count(*) FROM projects WHERE owner_id = ?1";
    pub(super) const INSERT: &str = "INSERT INTO projects (id, owner_id, name, description, \
         path, source_id, vm_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    pub(super) const LAST_EVENT: &str = "SELECT last_id FROM event_counter";
    pub(super) const SET_EVENT: &str = "UPDATE event_counter SET last_id = ?1";
    pub(super) const EVENT: &str =
        "INSERT INTO events (id, owner_id, project_id, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)";
    pub(super) const PRUNE: &str = "DELETE FROM events WHERE id <= ?1";
    pub(super) const AUDIT: &str =
        "INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (id) DO UPDATE SET at = excluded.at, actor_id = excluded.actor_id, \
         action = excluded.action, entry = excluded.entry";
}

/// The Redis scripts, exactly as RedisStore builds them (`scripts.rs`).
fn redis_script(body: &str) -> Script {
    Script::new(&format!(
        "{}\n{body}",
        include_str!("../../../storage-redis/src/lua/common.lua")
    ))
}

static READ_PROJECTS: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| {
    redis_script(include_str!(
        "../../../storage-redis/src/lua/read_projects.lua"
    ))
});
static CREATE_PROJECT: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| {
    redis_script(include_str!(
        "../../../storage-redis/src/lua/create_project.lua"
    ))
});

/// The stores' default event retention (PgOptions, SqliteOptions, RedisOptions).
const RETENTION: i64 = 10_000;

/// A project record as RedisStore keeps it (`records.rs`).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectRec {
    id: String,
    owner_id: String,
    name: String,
    description: Option<String>,
    path: Option<String>,
    source_id: String,
    vm_id: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A network record as RedisStore keeps it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NetworkRec {
    id: String,
    domain: String,
    port: u16,
    project_id: String,
    domain_id: String,
    created_at: DateTime<Utc>,
}

/// A user record as RedisStore keeps it (decoded as the store does).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // decoded like the store's, not used further
struct UserRec {
    id: String,
    name: String,
    email: String,
    role: String,
    password_hash: Option<String>,
    github_id: Option<String>,
    created_at: DateTime<Utc>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    session_epoch: u32,
}

/// A network as the SQL stores' `networks` JSON holds it.
#[derive(Deserialize)]
struct NetworkJson {
    id: String,
    domain: String,
    port: i64,
    domain_id: String,
    created_at: DateTime<Utc>,
}

fn networks_from(json: Vec<NetworkJson>, project_id: &str) -> Vec<Network> {
    json.into_iter()
        .map(|n| Network {
            id: n.id.into(),
            domain: n.domain,
            port: u16::try_from(n.port).unwrap_or(0),
            project_id: project_id.to_string().into(),
            domain_id: n.domain_id.into(),
            created_at: n.created_at,
        })
        .collect()
}

/// A project from a row of the SQL stores' project-with-networks columns.
fn pg_project(row: &slipway_postgres::sqlx::postgres::PgRow) -> Res<Project> {
    let networks: pgsqlx::types::Json<Vec<NetworkJson>> = row.try_get("networks")?;
    let id: String = row.try_get("id")?;
    Ok(Project {
        networks: networks_from(networks.0, &id),
        id: id.into(),
        owner_id: row.try_get("owner_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        path: row.try_get("path")?,
        source_id: row.try_get("source_id")?,
        vm_id: row.try_get("vm_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn lite_project(row: &slipway_sqlite::sqlx::sqlite::SqliteRow) -> Res<Project> {
    use slipway_sqlite::sqlx::Row as _;
    let networks: String = row.try_get("networks")?;
    let networks: Vec<NetworkJson> = serde_json::from_str(&networks)?;
    let id: String = row.try_get("id")?;
    Ok(Project {
        networks: networks_from(networks, &id),
        id: id.into(),
        owner_id: row.try_get("owner_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        path: row.try_get("path")?,
        source_id: row.try_get("source_id")?,
        vm_id: row.try_get("vm_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Decodes a user row's columns as the SQL stores do (`UserRow`).
macro_rules! decode_user {
    ($row:expr) => {{
        let row = $row;
        let _: String = row.try_get("id")?;
        let _: String = row.try_get("name")?;
        let _: String = row.try_get("email")?;
        let role: String = row.try_get("role")?;
        Role::parse(&role).ok_or_else(|| Fail::Other(format!("unknown role {role:?}")))?;
        let _: Option<String> = row.try_get("password_hash")?;
        let _: Option<i64> = row.try_get("github_id")?;
        let _: DateTime<Utc> = row.try_get("created_at")?;
        let _: bool = row.try_get("disabled")?;
        let epoch: i64 = row.try_get("session_epoch")?;
        u32::try_from(epoch)?;
    }};
}

/// Redis: the project snapshots `read_projects.lua` answers.
fn redis_projects(rows: Vec<(String, String, Vec<String>)>) -> Res<Vec<Project>> {
    rows.into_iter()
        .map(|(_version, raw, nets)| {
            let rec: ProjectRec = serde_json::from_str(&raw)?;
            let networks = nets
                .iter()
                .map(|n| {
                    let n: NetworkRec = serde_json::from_str(n)?;
                    Ok(Network {
                        id: n.id.into(),
                        domain: n.domain,
                        port: n.port,
                        project_id: n.project_id.into(),
                        domain_id: n.domain_id.into(),
                        created_at: n.created_at,
                    })
                })
                .collect::<Res<Vec<_>>>()?;
            Ok(Project {
                id: rec.id.into(),
                owner_id: rec.owner_id.into(),
                name: rec.name,
                description: rec.description,
                path: rec.path,
                source_id: rec.source_id,
                vm_id: rec.vm_id,
                networks,
                created_at: rec.created_at,
                updated_at: rec.updated_at,
            })
        })
        .collect()
}

/// The body of `POST /project` (the fields core's handler reads).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateProject {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    path: Option<String>,
    source_id: String,
    vm_id: String,
}

/// Error codes of a failed unique constraint (PostgreSQL and SQLite).
fn is_unique_violation(e: &dyn std::error::Error) -> bool {
    let s = e.to_string();
    s.contains("unique") || s.contains("UNIQUE")
}

impl Backend {
    /// The connections of the store at `database_url`; on PostgreSQL a pool
    /// of `pg_pool` connections (`None`: PgStore's default).
    async fn open(database_url: &str, pg_pool: Option<u32>) -> anyhow::Result<Self> {
        let scheme = database_url.split(':').next().unwrap_or("");
        match scheme {
            "postgres" | "postgresql" => {
                // PgStore's pool (store.rs): its size, timeouts and session
                // settings, and no ping before reusing a busy connection.
                let o = slipway_postgres::PgOptions::default();
                let statement_ms = o.statement_timeout.as_millis().max(1).to_string();
                let idle_ms = (o.statement_timeout.as_millis().max(1) * 2).to_string();
                let connect = PgConnectOptions::from_str(database_url)?
                    .application_name("slipway-bench-baseline")
                    .options([
                        ("statement_timeout", statement_ms.as_str()),
                        ("idle_in_transaction_session_timeout", idle_ms.as_str()),
                    ]);
                let pool = PgPoolOptions::new()
                    .max_connections(pg_pool.unwrap_or(o.max_connections))
                    .min_connections(o.min_connections.min(pg_pool.unwrap_or(u32::MAX)))
                    .acquire_timeout(o.acquire_timeout)
                    .idle_timeout(o.idle_timeout)
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for >= Duration::from_secs(1) {
                                conn.ping().await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_with(connect)
                    .await?;
                Ok(Backend::Pg(pool))
            }
            "sqlite" => {
                // SqliteStore's pools (store.rs): 8 read-only readers, one
                // writer with WAL and synchronous = FULL.
                let o = SqliteOptions::default();
                let base = SqliteConnectOptions::new()
                    .filename(slipway_sqlite::path_from_url(database_url)?)
                    .busy_timeout(o.busy_timeout)
                    .foreign_keys(true);
                let writer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(o.operation_timeout)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(
                        base.clone()
                            .journal_mode(SqliteJournalMode::Wal)
                            .synchronous(o.synchronous),
                    )
                    .await?;
                let readers = SqlitePoolOptions::new()
                    .max_connections(o.max_readers.max(1))
                    .acquire_timeout(o.operation_timeout)
                    .connect_with(base.read_only(true))
                    .await?;
                Ok(Backend::Lite { readers, writer })
            }
            "redis" | "rediss" => {
                // RedisStore's one multiplexed connection (lib.rs), and the
                // bench's key prefix (servers.rs).
                let o = slipway_redis::RedisOptions::default();
                let client = redis::Client::open(database_url)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(o.connect_timeout)
                    .set_response_timeout(o.command_timeout)
                    .set_number_of_retries(1)
                    .set_factor(50)
                    .set_max_delay(500);
                let conn = ConnectionManager::new_with_config(client, config).await?;
                Ok(Backend::Redis {
                    conn,
                    prefix: crate::servers::REDIS_PREFIX.to_string(),
                })
            }
            other => anyhow::bail!("no same-store baseline for the {other:?} store"),
        }
    }

    /// The store's `get_project`.
    async fn get_project(&self, owner: &str, id: &str) -> Res<Project> {
        match self {
            Backend::Pg(pool) => {
                let row = pgsqlx::query(pg::PROJECT)
                    .bind(id)
                    .bind(owner)
                    .fetch_optional(pool)
                    .await?;
                pg_project(&row.ok_or(Fail::NotFound)?)
            }
            Backend::Lite { readers, .. } => {
                let row = slipway_sqlite::sqlx::query(&lite::project())
                    .bind(id)
                    .bind(owner)
                    .fetch_optional(readers)
                    .await?;
                lite_project(&row.ok_or(Fail::NotFound)?)
            }
            Backend::Redis { conn, prefix } => {
                let rows = redis_read(conn, prefix, owner, id).await?;
                redis_projects(rows)?.pop().ok_or(Fail::NotFound)
            }
        }
    }

    /// Core's `user_of` (the store's `get_user`): the user must exist.
    async fn get_user(&self, id: &str) -> Res<()> {
        match self {
            Backend::Pg(pool) => {
                let row = pgsqlx::query(pg::USER)
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                decode_user!(row.ok_or(Fail::NotFound)?);
            }
            Backend::Lite { readers, .. } => {
                use slipway_sqlite::sqlx::Row as _;
                let row = slipway_sqlite::sqlx::query(lite::USER)
                    .bind(id)
                    .fetch_optional(readers)
                    .await?;
                decode_user!(row.ok_or(Fail::NotFound)?);
            }
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let raw: Option<String> = conn.get(format!("{prefix}:user:{id}")).await?;
                let rec: UserRec = serde_json::from_str(&raw.ok_or(Fail::NotFound)?)?;
                Role::parse(&rec.role).ok_or_else(|| Fail::Other("unknown role".into()))?;
                if let Some(g) = &rec.github_id {
                    g.parse::<i64>()?;
                }
            }
        }
        Ok(())
    }

    /// The store's `list_projects`.
    async fn list_projects(&self, owner: &str) -> Res<Vec<Project>> {
        match self {
            Backend::Pg(pool) => {
                let rows = pgsqlx::query(pg::LIST).bind(owner).fetch_all(pool).await?;
                rows.iter().map(pg_project).collect()
            }
            Backend::Lite { readers, .. } => {
                let rows = slipway_sqlite::sqlx::query(&lite::list())
                    .bind(owner)
                    .fetch_all(readers)
                    .await?;
                rows.iter().map(lite_project).collect()
            }
            Backend::Redis { conn, prefix } => {
                redis_projects(redis_read(conn, prefix, owner, "").await?)
            }
        }
    }

    /// The store's `create_project`.
    async fn create_project(&self, mut project: Project, audit: &AuditEntry) -> Res<Project> {
        if let Backend::Pg(_) = self {
            // PgStore keeps microseconds (`micros`).
            project.created_at = chrono::SubsecRound::trunc_subsecs(project.created_at, 6);
            project.updated_at = project.created_at;
        }
        let event = NewEvent::for_project(EventKind::Create, &project);
        match self {
            Backend::Pg(pool) => {
                let mut tx = pool.begin().await?;
                // The quota check and the project's slot (PgStore's
                // `pick_slot`, far below the quota: drawn without a lock).
                let (owned, _outside): (i64, i64) = pgsqlx::query_as(pg::COUNT)
                    .bind(&project.owner_id)
                    .bind(MAX_PROJECTS as i32)
                    .fetch_one(&mut *tx)
                    .await?;
                if owned >= MAX_PROJECTS as i64 {
                    return Err(Fail::Other("over the quota".into()));
                }
                let slot = (uuid::Uuid::new_v4().as_u128() % MAX_PROJECTS as u128) as i32;
                let inserted = pgsqlx::query(pg::INSERT)
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
                if let Err(e) = inserted {
                    return Err(if is_unique_violation(&e) {
                        Fail::Conflict
                    } else {
                        e.into()
                    });
                }
                pgsqlx::query(pg::AUDIT)
                    .bind(&audit.id)
                    .bind(audit.at)
                    .bind(audit.actor_id())
                    .bind(audit.action.as_str())
                    .bind(pgsqlx::types::Json(audit))
                    .execute(&mut *tx)
                    .await?;
                pgsqlx::query(pg::EVENT)
                    .bind(event.owner_id)
                    .bind(event.project_id)
                    .bind(event.kind.as_str())
                    .bind(event.data)
                    .bind(RETENTION)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                pgsqlx::query(pg::NOTIFY)
                    .bind(pg::CHANNEL)
                    .execute(pool)
                    .await?;
                Ok(project)
            }
            Backend::Lite { writer, .. } => {
                use slipway_sqlite::sqlx::{query, query_scalar};
                let mut conn = writer.acquire().await?;
                let mut tx = conn.begin().await?;
                // The quota check.
                let owned: i64 = query_scalar(lite::COUNT)
                    .bind(&project.owner_id)
                    .fetch_one(&mut *tx)
                    .await?;
                if owned >= MAX_PROJECTS as i64 {
                    return Err(Fail::Other("over the quota".into()));
                }
                let inserted = query(lite::INSERT)
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
                    return Err(if is_unique_violation(&e) {
                        Fail::Conflict
                    } else {
                        e.into()
                    });
                }
                // The store's events::append (without its high-water check,
                // which only matters after the file went back).
                let last: i64 = query_scalar(lite::LAST_EVENT).fetch_one(&mut *tx).await?;
                let id = last.saturating_add(1);
                query(lite::SET_EVENT).bind(id).execute(&mut *tx).await?;
                let data = serde_json::to_string(&event.data)?;
                query(lite::EVENT)
                    .bind(id)
                    .bind(event.owner_id)
                    .bind(event.project_id)
                    .bind(event.kind.as_str())
                    .bind(data)
                    .execute(&mut *tx)
                    .await?;
                query(lite::PRUNE)
                    .bind(id.saturating_sub(RETENTION))
                    .execute(&mut *tx)
                    .await?;
                // The store's audit::insert.
                let json = serde_json::to_string(audit)?;
                query(lite::AUDIT)
                    .bind(&audit.id)
                    .bind(audit.at.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
                    .bind(audit.actor_id())
                    .bind(audit.action.as_str())
                    .bind(json)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(project)
            }
            Backend::Redis { conn, prefix } => {
                // RedisStore's create_project and write_audited (projects.rs,
                // lib.rs, audit.rs).
                let rec = serde_json::to_string(&ProjectRec {
                    id: project.id.clone().into(),
                    owner_id: project.owner_id.clone().into(),
                    name: project.name.clone(),
                    description: project.description.clone(),
                    path: project.path.clone(),
                    source_id: project.source_id.clone(),
                    vm_id: project.vm_id.clone(),
                    created_at: project.created_at,
                    updated_at: project.updated_at,
                })?;
                let data = serde_json::to_string(&event.data)?;
                let (has_path, path) = match &project.path {
                    Some(p) => ("1", p.as_str()),
                    None => ("0", ""),
                };
                let mut inv = CREATE_PROJECT.prepare_invoke();
                inv.arg(prefix)
                    // Retention and event id floor (RedisStore passes the
                    // newest id it has seen; 0 never moves the counter).
                    .arg(format!("{RETENTION}:0"))
                    .arg(project.id.as_str())
                    .arg(project.owner_id.as_str())
                    .arg(&project.source_id)
                    .arg(&project.vm_id)
                    .arg(has_path)
                    .arg(path)
                    .arg(rec)
                    .arg(data)
                    .arg(event.kind.as_str())
                    .arg(MAX_PROJECTS.to_string())
                    .arg(&audit.id)
                    .arg(audit.at.timestamp_micros().to_string())
                    .arg(audit.actor_id().unwrap_or_default())
                    .arg(audit.action.as_str())
                    .arg(serde_json::to_string(audit)?);
                let mut conn = conn.clone();
                let reply: Vec<String> = inv.invoke_async(&mut conn).await?;
                match reply.first().map(String::as_str) {
                    Some("ok") => Ok(project),
                    Some("conflict") => Err(Fail::Conflict),
                    Some("notfound") => Err(Fail::NotFound),
                    other => Err(Fail::Other(format!("unexpected script answer {other:?}"))),
                }
            }
        }
    }
}

/// The `read_projects` script, as RedisStore's `read` runs it.
async fn redis_read(
    conn: &ConnectionManager,
    prefix: &str,
    owner: &str,
    only: &str,
) -> Res<Vec<(String, String, Vec<String>)>> {
    let mut inv = READ_PROJECTS.prepare_invoke();
    inv.arg(prefix)
        .arg(format!("{RETENTION}:0"))
        .arg(owner)
        .arg(only);
    let mut conn = conn.clone();
    Ok(inv.invoke_async(&mut conn).await?)
}

// ---- the HTTP side ---------------------------------------------------------

struct App {
    verifier: Verifier,
    backend: Backend,
    /// Whether (g) and (h) make the reads core makes before the store call.
    core_reads: bool,
}

/// A JSON answer written as core's `json_response` writes it.
fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    let mut body = Vec::with_capacity(512);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => {
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn fail(f: Fail) -> Response {
    match f {
        Fail::NotFound => StatusCode::NOT_FOUND.into_response(),
        Fail::Conflict => StatusCode::CONFLICT.into_response(),
        Fail::Other(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

async fn read(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(claims) = app.verifier.verify(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match app.backend.get_project(&claims.sub, &id).await {
        Ok(project) => json(StatusCode::OK, &project),
        Err(f) => fail(f),
    }
}

async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(claims) = app.verifier.verify(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if app.core_reads {
        if let Err(f) = app.backend.get_user(&claims.sub).await {
            return fail(f);
        }
    }
    match app.backend.list_projects(&claims.sub).await {
        Ok(projects) => json(StatusCode::OK, &projects),
        Err(f) => fail(f),
    }
}

async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(claims) = app.verifier.verify(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(input) = serde_json::from_slice::<CreateProject>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let owner = claims.sub;
    if app.core_reads {
        if let Err(f) = app.backend.get_user(&owner).await {
            return fail(f);
        }
    }
    // As core builds them (services/projects.rs, services/audit.rs).
    let now = Utc::now();
    let project = Project {
        id: uuid::Uuid::new_v4().to_string().into(),
        owner_id: owner.clone().into(),
        name: input.name,
        description: input.description,
        path: input.path,
        source_id: input.source_id,
        vm_id: input.vm_id,
        networks: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    let mut audit = AuditEntry::new(AuditAction::ProjectCreate, Utc::now())
        .target("project", project.id.clone());
    audit.actor = Some(AuditActor {
        user_id: owner.into(),
        token_id: None,
    });
    audit.ip = Some("127.0.0.1".into());
    audit.request_id = Some(uuid::Uuid::new_v4().simple().to_string());
    match app.backend.create_project(project, &audit).await {
        Ok(project) => json(StatusCode::CREATED, &project),
        Err(f) => fail(f),
    }
}

/// The same-store baseline app on `database_url`.
pub(crate) async fn app(
    secret: &str,
    database_url: &str,
    core_reads: bool,
    pg_pool: Option<u32>,
) -> anyhow::Result<axum::Router> {
    let backend = Backend::open(database_url, pg_pool)
        .await
        .with_context(|| "opening the same-store baseline's connections")?;
    let app = Arc::new(App {
        verifier: Verifier::new(secret)?,
        backend,
        core_reads,
    });
    Ok(axum::Router::new()
        .route("/project", get(list).post(create))
        .route("/project/{id}", get(read))
        .with_state(app))
}

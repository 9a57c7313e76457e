//! The SQLite baselines, on the database file of the server under test:
//! (d) the primary-key SELECT behind `GET /project/{id}` on a pool of
//! read-only connections the size SqliteStore uses, and (e) the write behind
//! `POST /project` — one transaction inserting the project and its event
//! row — on one connection with SqliteStore's journal and sync settings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_sqlite::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
};
use slipway_sqlite::sqlx::{self, Connection as _, Row as _};
use slipway_sqlite::SqliteOptions;

use crate::load::LoadResult;

/// The name of baseline (d)'s row.
pub(crate) const BASELINE_D: &str = "baseline (d): sqlx SQLite primary-key SELECT";
/// The name of baseline (e)'s row.
pub(crate) const BASELINE_E: &str = "baseline (e): sqlx SQLite INSERT project + event";

const SELECT: &str = "SELECT id, owner_id, name, description, path, source_id, vm_id, \
                      created_at, updated_at FROM projects WHERE id = ?1";

/// Which statement a [`SqliteLoad`] issues.
enum Work {
    /// Baseline (d): SELECT this project.
    Select { project_id: String },
    /// Baseline (e): insert projects of this owner, each with its event.
    Insert { owner_id: String, run: String },
}

/// Raw sqlx load on the database file of a server under test.
pub(crate) struct SqliteLoad {
    pool: SqlitePool,
    pool_size: u32,
    work: Arc<Work>,
    seq: Arc<AtomicU64>,
}

impl SqliteLoad {
    fn options(path: &str) -> anyhow::Result<SqliteConnectOptions> {
        let path = slipway_sqlite::path_from_url(path)?;
        Ok(SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(SqliteOptions::default().busy_timeout))
    }

    /// Baseline (d) on the database `url`: read-only connections, as many
    /// as SqliteStore's readers.
    pub(crate) async fn select(url: &str, project_id: &str) -> anyhow::Result<Self> {
        let pool_size = SqliteOptions::default().max_readers;
        let pool = SqlitePoolOptions::new()
            .max_connections(pool_size)
            .connect_with(Self::options(url)?.read_only(true))
            .await?;
        Ok(Self {
            pool,
            pool_size,
            work: Arc::new(Work::Select {
                project_id: project_id.to_string(),
            }),
            seq: Arc::default(),
        })
    }

    /// Baseline (e) on the database `url`: one writer connection, WAL and
    /// `synchronous = FULL` like SqliteStore's; projects of `owner_id`.
    pub(crate) async fn insert(url: &str, owner_id: &str) -> anyhow::Result<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(
                Self::options(url)?
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteOptions::default().synchronous),
            )
            .await?;
        Ok(Self {
            pool,
            pool_size: 1,
            work: Arc::new(Work::Insert {
                owner_id: owner_id.to_string(),
                run: crate::scenarios::unique(),
            }),
            seq: Arc::default(),
        })
    }

    /// How the baseline was run, for the row's notes.
    pub(crate) fn describe(&self, connections: usize) -> String {
        let what = match *self.work {
            Work::Select { .. } => "read-only connections (SqliteStore's readers)",
            Work::Insert { .. } => "writer connection (SqliteStore's), WAL, synchronous = FULL",
        };
        format!(
            "{connections} tasks over {} {what}, on the server's database file",
            self.pool_size
        )
    }

    /// One operation.
    async fn once(pool: &SqlitePool, work: &Work, seq: &AtomicU64) -> Result<(), sqlx::Error> {
        match work {
            Work::Select { project_id } => {
                let row = sqlx::query(SELECT).bind(project_id).fetch_one(pool).await?;
                let _: String = row.try_get("id")?;
                let _: String = row.try_get("name")?;
                let _: Option<String> = row.try_get("description")?;
                let _: Option<String> = row.try_get("path")?;
                let _: String = row.try_get("source_id")?;
                let _: String = row.try_get("vm_id")?;
                let _: chrono::DateTime<chrono::Utc> = row.try_get("created_at")?;
                let _: chrono::DateTime<chrono::Utc> = row.try_get("updated_at")?;
                Ok(())
            }
            Work::Insert { owner_id, run } => {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let id = format!("raw-{run}-{n}");
                let now = chrono::Utc::now();
                let data = serde_json::json!({"id": id, "name": "bench", "networks": []});
                let mut conn = pool.acquire().await?;
                let mut tx = conn.begin().await?;
                sqlx::query(
                    "INSERT INTO projects (id, owner_id, name, description, path, source_id, \
                     vm_id, created_at, updated_at) VALUES (?1, ?2, 'bench', 'raw', NULL, ?3, \
                     ?4, ?5, ?5)",
                )
                .bind(&id)
                .bind(owner_id)
                .bind(format!("src-{id}"))
                .bind(format!("vm-{id}"))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let event: i64 = sqlx::query_scalar(
                    "UPDATE event_counter SET last_id = last_id + 1 RETURNING last_id",
                )
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO events (id, owner_id, project_id, kind, data) \
                     VALUES (?1, ?2, ?3, 'CREATE', ?4)",
                )
                .bind(event)
                .bind(owner_id)
                .bind(&id)
                .bind(data.to_string())
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }
        }
    }

    /// Runs `connections` tasks back to back for `warmup` (not measured)
    /// plus `duration`.
    pub(crate) async fn run(
        &self,
        connections: usize,
        warmup: Duration,
        duration: Duration,
    ) -> anyhow::Result<LoadResult> {
        let measure_from = Instant::now() + warmup;
        let until = measure_from + duration;
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let (pool, work, seq) = (self.pool.clone(), self.work.clone(), self.seq.clone());
                tokio::spawn(async move {
                    let mut out = LoadResult::empty(duration);
                    while Instant::now() < until {
                        let t0 = Instant::now();
                        let result = Self::once(&pool, &work, &seq).await;
                        let measured = t0 >= measure_from;
                        match result {
                            Ok(()) if measured => {
                                let us = t0.elapsed().as_micros().max(1) as u64;
                                out.latencies.saturating_record(us);
                            }
                            Ok(()) => {}
                            Err(e) => {
                                out.errors += u64::from(measured);
                                out.first_error.get_or_insert(e.to_string());
                            }
                        }
                    }
                    out
                })
            })
            .collect();
        let mut total = LoadResult::empty(duration);
        for t in tasks {
            total.absorb(t.await?);
        }
        Ok(total)
    }

    /// Closes the pool.
    pub(crate) async fn close(self) {
        self.pool.close().await;
    }
}

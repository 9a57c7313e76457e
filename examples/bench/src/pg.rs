//! Baseline (c): the primary-key SELECT behind `GET /project/{id}`, issued by
//! sqlx directly at the same concurrency, with the pool size PgStore uses.

use std::time::{Duration, Instant};

use slipway_postgres::sqlx::{self, postgres::PgPoolOptions, PgPool, Row as _};
use slipway_postgres::PgOptions;

use crate::load::LoadResult;

/// The name of baseline (c)'s row.
pub(crate) const BASELINE_C: &str = "baseline (c): sqlx primary-key SELECT";

const SELECT: &str = "SELECT id, owner_id, name, description, path, source_id, vm_id, \
                      created_at, updated_at FROM projects WHERE id = $1";

/// A pool of PgStore's default size, issuing the SELECT of one project.
pub(crate) struct SelectLoad {
    pool: PgPool,
    pool_size: u32,
    project_id: String,
}

impl SelectLoad {
    /// Connects a pool of PgStore's default size to `url`.
    pub(crate) async fn connect(url: &str, project_id: &str) -> anyhow::Result<Self> {
        let pool_size = PgOptions::default().max_connections;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .connect(url)
            .await?;
        Ok(Self {
            pool,
            pool_size,
            project_id: project_id.to_string(),
        })
    }

    /// How the baseline was run, for the row's notes.
    pub(crate) fn describe(&self, connections: usize) -> String {
        format!(
            "{connections} tasks over a pool of {} connections (PgStore's default)",
            self.pool_size
        )
    }

    /// Runs `connections` tasks, each issuing the SELECT back to back and
    /// decoding every column, for `warmup` (not measured) plus `duration`.
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
                let pool = self.pool.clone();
                let id = self.project_id.clone();
                tokio::spawn(async move {
                    let mut out = LoadResult::empty(duration);
                    while Instant::now() < until {
                        let t0 = Instant::now();
                        let res = sqlx::query(SELECT).bind(&id).fetch_one(&pool).await;
                        let decoded = res.and_then(|row| {
                            let _: String = row.try_get("id")?;
                            let _: String = row.try_get("name")?;
                            let _: Option<String> = row.try_get("description")?;
                            let _: Option<String> = row.try_get("path")?;
                            let _: String = row.try_get("source_id")?;
                            let _: String = row.try_get("vm_id")?;
                            let _: chrono::DateTime<chrono::Utc> = row.try_get("created_at")?;
                            let _: chrono::DateTime<chrono::Utc> = row.try_get("updated_at")?;
                            Ok(())
                        });
                        let measured = t0 >= measure_from;
                        match decoded {
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

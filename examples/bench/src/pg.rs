//! Baseline (c): the primary-key SELECT behind `GET /project/{id}`, issued by
//! sqlx directly at the same concurrency, with the pool size PgStore uses.

use std::time::{Duration, Instant};

use slipway_postgres::sqlx::{self, postgres::PgPoolOptions, Row as _};
use slipway_postgres::PgOptions;

use crate::load::histogram;
use crate::report::Row;

const SELECT: &str = "SELECT id, owner_id, name, description, path, source_id, vm_id, \
                      created_at, updated_at FROM projects WHERE id = $1";

/// Runs `connections` tasks, each issuing the SELECT back to back.
pub(crate) async fn baseline_select(
    url: &str,
    project_id: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Row> {
    let pool_size = PgOptions::default().max_connections;
    let pool = PgPoolOptions::new()
        .max_connections(pool_size)
        .connect(url)
        .await?;
    let measure_from = Instant::now() + warmup;
    let until = measure_from + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let pool = pool.clone();
            let id = project_id.to_string();
            tokio::spawn(async move {
                let mut h = histogram();
                let mut errors = 0u64;
                let mut first_error = None;
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
                            h.saturating_record(t0.elapsed().as_micros().max(1) as u64);
                        }
                        Ok(()) => {}
                        Err(e) => {
                            errors += u64::from(measured);
                            first_error.get_or_insert(e.to_string());
                        }
                    }
                }
                (h, errors, first_error)
            })
        })
        .collect();
    let mut h = histogram();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        let (part, e, fe) = t.await?;
        h.add(&part).expect("same histogram bounds");
        errors += e;
        if first_error.is_none() {
            first_error = fe;
        }
    }
    pool.close().await;
    let mut row = Row {
        scenario: "baseline (c): sqlx primary-key SELECT".into(),
        store: "postgres".into(),
        connections,
        rps: Some(h.len() as f64 / duration.as_secs_f64()),
        errors,
        ..Row::default()
    };
    row.set_percentiles(&h);
    row.add_note(format!(
        "{connections} tasks over a pool of {pool_size} connections (PgStore's default)"
    ));
    if let Some(e) = first_error {
        row.add_note(format!("first error: {e}"));
    }
    Ok(row)
}

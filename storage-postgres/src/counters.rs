//! Rate-limit counters (`Store::hit_counter`), in the `rate_limits` table.
//!
//! One `INSERT … ON CONFLICT DO UPDATE … WHERE` per attempt, for all its
//! counters (a single hit is an attempt with one counter): the row lock of
//! the upsert serialises concurrent hits of one key, so no more than `limit`
//! attempts are ever counted in a window, whichever node they come from.
//! The database's clock decides the windows, so nodes with skewed clocks
//! agree.

use std::time::Duration;

use slipway_core::model::AuditEntry;
use slipway_core::store::{CounterHit, CounterLimit, StoreResult};

use crate::store::{Db, PgStore};

/// The settle of an attempt's counters: `$1` the keys, `$2` whether the
/// attempt stays counted (a failure).
///
/// The rows are locked in key order first (`ORDER BY key FOR UPDATE`), the
/// order the hit's upsert takes them in. A plain `UPDATE … WHERE key =
/// ANY($1)` locks them in the order its plan meets them (storage order on a
/// sequential scan), so one attempt's settle and another's hit of the same
/// keys could each hold a row the other waits for: a deadlock, which
/// PostgreSQL breaks by failing one of them (a 503 sign-in, or a settle
/// lost and its counter left pending).
macro_rules! settle_sql {
    () => {
        "UPDATE rate_limits AS r SET pending = GREATEST(r.pending - 1, 0), \
           count = CASE WHEN $2 THEN r.count ELSE GREATEST(r.count - 1, 0) END \
         FROM (SELECT key FROM rate_limits WHERE key = ANY($1) AND expires_at > now() \
               ORDER BY key FOR UPDATE) AS locked \
         WHERE r.key = locked.key"
    };
}

impl PgStore {
    /// [`Store::hit_counter`](slipway_core::Store::hit_counter): the
    /// batched statement with one counter.
    pub(crate) async fn pg_hit_counter(
        &self,
        key: &str,
        window: Duration,
        limit: u32,
    ) -> StoreResult<CounterHit> {
        let one = [CounterLimit { key, window, limit }];
        Ok(self
            .pg_hit_counters(&one)
            .await?
            .map_or(CounterHit::Counted, |(_, hit)| hit))
    }

    /// [`Store::hit_counters`](slipway_core::Store::hit_counters) in one
    /// statement: every counter's upsert (in key order, so concurrent
    /// attempts lock rows in the same order), each with its own limit. When
    /// one refuses, the others' counts are given back in a second statement
    /// and the refusing counter's state is read.
    pub(crate) async fn pg_hit_counters(
        &self,
        counters: &[CounterLimit<'_>],
    ) -> StoreResult<Option<(usize, CounterHit)>> {
        if let Some(i) = counters.iter().position(|c| c.limit == 0) {
            return Ok(Some((i, CounterHit::Limited(counters[i].window))));
        }
        let keys: Vec<&str> = counters.iter().map(|c| c.key).collect();
        let distinct: std::collections::HashSet<&str> = keys.iter().copied().collect();
        if distinct.len() != keys.len() {
            // One statement cannot count a row twice: one key at a time.
            for (i, c) in counters.iter().enumerate() {
                if let Some((_, hit)) =
                    Box::pin(self.pg_hit_counters(std::slice::from_ref(c))).await?
                {
                    // Settled one by one: a key taken twice gives back twice.
                    for taken in &keys[..i] {
                        self.pg_settle_counters(&[taken], false).await?;
                    }
                    return Ok(Some((i, hit)));
                }
            }
            return Ok(None);
        }
        if rand_sweep() {
            // Rows another attempt holds are left for a later sweep:
            // waiting for them could deadlock with that attempt. A bounded
            // batch (more rows than the 256 attempts since the last sweep
            // can have added), so a backlog costs no attempt more than one
            // batch; a failed sweep is logged, the attempt goes on.
            if let Err(e) = sqlx::query(
                "DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits \
                 WHERE expires_at < now() - interval '1 minute' \
                 LIMIT $1 FOR UPDATE SKIP LOCKED)",
            )
            .bind(SWEEP_BATCH)
            .execute(&self.inner.pool)
            .await
            {
                tracing::warn!(error = %e, "could not sweep expired rate-limit counters");
            }
        }
        let windows: Vec<i64> = counters
            .iter()
            .map(|c| i64::try_from(c.window.as_millis()).unwrap_or(i64::MAX / 2))
            .collect();
        let limits: Vec<i64> = counters.iter().map(|c| i64::from(c.limit)).collect();
        let counted: Vec<String> = sqlx::query_scalar(
            "WITH input AS ( \
               SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(key, window_ms, lim)) \
             INSERT INTO rate_limits AS r (key, count, pending, expires_at) \
             SELECT key, 1, 1, now() + make_interval(secs => window_ms::double precision / 1000) \
             FROM input ORDER BY key \
             ON CONFLICT (key) DO UPDATE SET \
               count = CASE WHEN r.expires_at <= now() THEN 1 ELSE r.count + 1 END, \
               pending = CASE WHEN r.expires_at <= now() THEN 1 ELSE r.pending + 1 END, \
               expires_at = CASE WHEN r.expires_at <= now() THEN EXCLUDED.expires_at \
                                 ELSE r.expires_at END \
             WHERE r.expires_at <= now() \
                OR r.count < (SELECT lim FROM input WHERE input.key = EXCLUDED.key) \
             RETURNING r.key",
        )
        .bind(&keys)
        .bind(&windows)
        .bind(&limits)
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        if counted.len() == counters.len() {
            return Ok(None);
        }
        if !counted.is_empty() {
            self.pg_settle_counters(
                &counted.iter().map(String::as_str).collect::<Vec<_>>(),
                false,
            )
            .await?;
        }
        let i = counters
            .iter()
            .position(|c| !counted.iter().any(|k| k == c.key))
            .unwrap_or(0);
        let c = counters[i];
        Ok(Some((i, self.pg_counter_state(c.key, c.limit).await?)))
    }

    /// Why an attempt on `key` was not counted.
    async fn pg_counter_state(&self, key: &str, limit: u32) -> StoreResult<CounterHit> {
        let row: Option<(i64, i64, f64)> = sqlx::query_as(
            "SELECT count, pending, \
               GREATEST(EXTRACT(EPOCH FROM (expires_at - now())) * 1000, 0)::double precision \
             FROM rate_limits WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        Ok(match row {
            // Changed meanwhile (settled, or the window ended): ask again.
            None => CounterHit::Pending,
            Some((count, _, _)) if count < i64::from(limit) => CounterHit::Pending,
            Some((_, pending, _)) if pending > 0 => CounterHit::Pending,
            Some((_, _, left_ms)) => {
                CounterHit::Limited(Duration::from_millis(left_ms.max(0.0) as u64))
            }
        })
    }

    /// [`Store::settle_counters`](slipway_core::Store::settle_counters) in
    /// one statement (the keys of one attempt are distinct).
    pub(crate) async fn pg_settle_counters(&self, keys: &[&str], keep: bool) -> StoreResult<()> {
        sqlx::query(settle_sql!())
            .bind(keys)
            .bind(keep)
            .execute(&self.inner.pool)
            .await
            .db()?;
        Ok(())
    }

    /// [`Store::settle_counters_and_audit`](slipway_core::Store::settle_counters_and_audit)
    /// in one statement: the settle is a data-modifying CTE, which
    /// PostgreSQL runs to completion whether or not the insert reads it.
    pub(crate) async fn pg_settle_counters_and_audit(
        &self,
        keys: &[&str],
        keep: bool,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        let settle = sqlx::query(concat!(
            "WITH settled AS (",
            settle_sql!(),
            ") INSERT INTO audit_log (id, at, actor_id, action, entry) \
             VALUES ($3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(keys)
        .bind(keep);
        crate::audit::bind_audit!(settle, entry)
            .execute(&self.inner.pool)
            .await
            .db()?;
        Ok(())
    }

    pub(crate) async fn pg_settle_counter(&self, key: &str, keep: bool) -> StoreResult<()> {
        self.pg_settle_counters(&[key], keep).await
    }

    pub(crate) async fn pg_has_users(&self) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&self.inner.pool)
            .await
            .db()
    }
}

/// The most expired counters one sweep deletes.
const SWEEP_BATCH: i64 = 2_000;

/// About one hit in 256 sweeps expired counters.
fn rand_sweep() -> bool {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed) % 256 == 255
}

//! Rate-limit counters (`Store::hit_counter`), in the `rate_limits` table.
//!
//! One `INSERT … ON CONFLICT DO UPDATE … WHERE` per hit: the row lock of the
//! upsert serialises concurrent hits of one key, so no more than `limit`
//! attempts are ever counted in a window, whichever node they come from.
//! The database's clock decides the windows, so nodes with skewed clocks
//! agree.

use std::time::Duration;

use slipway_core::store::{CounterHit, StoreResult};

use crate::store::{Db, PgStore};

impl PgStore {
    pub(crate) async fn pg_hit_counter(
        &self,
        key: &str,
        window: Duration,
        limit: u32,
    ) -> StoreResult<CounterHit> {
        if limit == 0 {
            return Ok(CounterHit::Limited(window));
        }
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 2);
        // Now and then, sweep rows whose window has ended.
        if rand_sweep() {
            sqlx::query("DELETE FROM rate_limits WHERE expires_at < now() - interval '1 minute'")
                .execute(&self.inner.pool)
                .await
                .db()?;
        }
        let counted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rate_limits (key, count, pending, expires_at) \
             VALUES ($1, 1, 1, now() + make_interval(secs => $2::double precision / 1000)) \
             ON CONFLICT (key) DO UPDATE SET \
               count = CASE WHEN rate_limits.expires_at <= now() THEN 1 \
                            ELSE rate_limits.count + 1 END, \
               pending = CASE WHEN rate_limits.expires_at <= now() THEN 1 \
                              ELSE rate_limits.pending + 1 END, \
               expires_at = CASE WHEN rate_limits.expires_at <= now() THEN EXCLUDED.expires_at \
                                 ELSE rate_limits.expires_at END \
             WHERE rate_limits.expires_at <= now() OR rate_limits.count < $3 \
             RETURNING count",
        )
        .bind(key)
        .bind(window_ms)
        .bind(i64::from(limit))
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        if counted.is_some() {
            return Ok(CounterHit::Counted);
        }
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

    pub(crate) async fn pg_settle_counter(&self, key: &str, keep: bool) -> StoreResult<()> {
        sqlx::query(
            "UPDATE rate_limits SET pending = GREATEST(pending - 1, 0), \
               count = CASE WHEN $2 THEN count ELSE GREATEST(count - 1, 0) END \
             WHERE key = $1 AND expires_at > now()",
        )
        .bind(key)
        .bind(keep)
        .execute(&self.inner.pool)
        .await
        .db()?;
        Ok(())
    }

    pub(crate) async fn pg_has_users(&self) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&self.inner.pool)
            .await
            .db()
    }
}

/// About one hit in 256 sweeps expired counters.
fn rand_sweep() -> bool {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed) % 256 == 255
}

//! Rate-limit counters (`Store::hit_counter`), in the `rate_limits` table.
//!
//! Every hit is one upsert on the single writer connection, so hits are
//! serialised and no more than `limit` attempts are counted in a window.
//! The counters survive a restart of the server.

use std::time::Duration;

use slipway_core::store::{CounterHit, StoreResult};

use crate::store::{Db, SqliteStore};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
        .unwrap_or(0)
}

impl SqliteStore {
    pub(crate) async fn lite_hit_counter(
        &self,
        key: &str,
        window: Duration,
        limit: u32,
    ) -> StoreResult<CounterHit> {
        if limit == 0 {
            return Ok(CounterHit::Limited(window));
        }
        let now = now_ms();
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 4);
        let mut conn = self.writer().await?;
        if sweep_now() {
            sqlx::query("DELETE FROM rate_limits WHERE expires_ms < ?1")
                .bind(now)
                .execute(&mut *conn)
                .await
                .db()?;
        }
        let counted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rate_limits (key, count, pending, expires_ms) VALUES (?1, 1, 1, ?2 + ?3) \
             ON CONFLICT (key) DO UPDATE SET \
               count = CASE WHEN expires_ms <= ?2 THEN 1 ELSE count + 1 END, \
               pending = CASE WHEN expires_ms <= ?2 THEN 1 ELSE pending + 1 END, \
               expires_ms = CASE WHEN expires_ms <= ?2 THEN excluded.expires_ms \
                                 ELSE expires_ms END \
             WHERE expires_ms <= ?2 OR count < ?4 \
             RETURNING count",
        )
        .bind(key)
        .bind(now)
        .bind(window_ms)
        .bind(i64::from(limit))
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        if counted.is_some() {
            return Ok(CounterHit::Counted);
        }
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT pending, expires_ms FROM rate_limits WHERE key = ?1")
                .bind(key)
                .fetch_optional(&mut *conn)
                .await
                .db()?;
        Ok(match row {
            Some((pending, _)) if pending > 0 => CounterHit::Pending,
            Some((_, expires)) => CounterHit::Limited(Duration::from_millis(
                u64::try_from(expires - now).unwrap_or(0),
            )),
            None => CounterHit::Pending,
        })
    }

    pub(crate) async fn lite_settle_counter(&self, key: &str, keep: bool) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        sqlx::query(
            "UPDATE rate_limits SET pending = max(pending - 1, 0), \
               count = CASE WHEN ?3 THEN count ELSE max(count - 1, 0) END \
             WHERE key = ?1 AND expires_ms > ?2",
        )
        .bind(key)
        .bind(now_ms())
        .bind(keep)
        .execute(&mut *conn)
        .await
        .db()?;
        Ok(())
    }

    pub(crate) async fn lite_has_users(&self) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users LIMIT 1")
            .fetch_optional(&self.inner.readers)
            .await
            .db()?;
        Ok(found.is_some())
    }
}

/// About one hit in 256 sweeps expired counters.
fn sweep_now() -> bool {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed) % 256 == 255
}

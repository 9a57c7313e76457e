//! Rate-limit counters (`Store::hit_counter`), in the `rate_limits` table.
//!
//! Every hit is one upsert on the single writer connection, so hits are
//! serialised and no more than `limit` attempts are counted in a window.
//! The counters survive a restart of the server. The counters of one
//! attempt are hit, and settled, in one transaction.

use std::time::Duration;

use slipway_core::model::AuditEntry;
use slipway_core::store::{CounterHit, CounterLimit, StoreResult};
use sqlx::{Connection, SqliteConnection};

use crate::store::{Db, SqliteStore};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
        .unwrap_or(0)
}

impl SqliteStore {
    /// [`Store::hit_counter`](slipway_core::Store::hit_counter): the
    /// batched transaction with one counter.
    pub(crate) async fn lite_hit_counter(
        &self,
        key: &str,
        window: Duration,
        limit: u32,
    ) -> StoreResult<CounterHit> {
        let one = [CounterLimit { key, window, limit }];
        Ok(self
            .lite_hit_counters(&one)
            .await?
            .map_or(CounterHit::Counted, |(_, hit)| hit))
    }

    /// [`Store::hit_counters`](slipway_core::Store::hit_counters): every
    /// counter's upsert in one transaction of the writer, rolled back when
    /// one refuses (one commit for the whole attempt).
    pub(crate) async fn lite_hit_counters(
        &self,
        counters: &[CounterLimit<'_>],
    ) -> StoreResult<Option<(usize, CounterHit)>> {
        if let Some(i) = counters.iter().position(|c| c.limit == 0) {
            return Ok(Some((i, CounterHit::Limited(counters[i].window))));
        }
        let now = now_ms();
        let mut conn = self.writer().await?;
        if sweep_now() {
            // A bounded batch (more rows than the 256 attempts since the
            // last sweep can have added), so a backlog holds the writer for
            // no longer than one batch; a failed sweep is logged, the
            // attempt goes on.
            if let Err(e) = sqlx::query(
                "DELETE FROM rate_limits WHERE rowid IN \
                 (SELECT rowid FROM rate_limits WHERE expires_ms < ?1 LIMIT ?2)",
            )
            .bind(now)
            .bind(SWEEP_BATCH)
            .execute(&mut *conn)
            .await
            {
                tracing::warn!(error = %e, "could not sweep expired rate-limit counters");
            }
        }
        let mut tx = Connection::begin(&mut *conn).await.db()?;
        for (i, c) in counters.iter().enumerate() {
            let window_ms = i64::try_from(c.window.as_millis()).unwrap_or(i64::MAX / 4);
            if !upsert(&mut tx, c.key, now, window_ms, c.limit).await? {
                tx.rollback().await.db()?;
                return Ok(Some((i, state(&mut conn, c.key, now).await?)));
            }
        }
        tx.commit().await.db()?;
        Ok(None)
    }

    /// [`Store::settle_counters`](slipway_core::Store::settle_counters):
    /// every key's settle in one transaction of the writer.
    pub(crate) async fn lite_settle_counters(&self, keys: &[&str], keep: bool) -> StoreResult<()> {
        let now = now_ms();
        let mut conn = self.writer().await?;
        let mut tx = Connection::begin(&mut *conn).await.db()?;
        for key in keys {
            settle(&mut tx, key, now, keep).await?;
        }
        tx.commit().await.db()
    }

    /// [`Store::settle_counters_and_audit`](slipway_core::Store::settle_counters_and_audit)
    /// in one writer transaction.
    pub(crate) async fn lite_settle_counters_and_audit(
        &self,
        keys: &[&str],
        keep: bool,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        let now = now_ms();
        let mut conn = self.writer().await?;
        let mut tx = Connection::begin(&mut *conn).await.db()?;
        for key in keys {
            settle(&mut tx, key, now, keep).await?;
        }
        crate::audit::insert(&mut tx, entry).await?;
        tx.commit().await.db()
    }

    pub(crate) async fn lite_settle_counter(&self, key: &str, keep: bool) -> StoreResult<()> {
        self.lite_settle_counters(&[key], keep).await
    }

    pub(crate) async fn lite_has_users(&self) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users LIMIT 1")
            .fetch_optional(&self.inner.readers)
            .await
            .db()?;
        Ok(found.is_some())
    }
}

/// The most expired counters one sweep deletes.
const SWEEP_BATCH: i64 = 2_000;

/// About one hit in 256 sweeps expired counters.
fn sweep_now() -> bool {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed) % 256 == 255
}

/// Counts one attempt on `key` when its window has room (or has ended);
/// whether it was counted.
async fn upsert(
    conn: &mut SqliteConnection,
    key: &str,
    now: i64,
    window_ms: i64,
    limit: u32,
) -> StoreResult<bool> {
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
    Ok(counted.is_some())
}

/// Why an attempt on `key` was not counted.
async fn state(conn: &mut SqliteConnection, key: &str, now: i64) -> StoreResult<CounterHit> {
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

/// Ends one attempt on `key` (see `Store::settle_counter`).
async fn settle(conn: &mut SqliteConnection, key: &str, now: i64, keep: bool) -> StoreResult<()> {
    sqlx::query(
        "UPDATE rate_limits SET pending = max(pending - 1, 0), \
           count = CASE WHEN ?3 THEN count ELSE max(count - 1, 0) END \
         WHERE key = ?1 AND expires_ms > ?2",
    )
    .bind(key)
    .bind(now)
    .bind(keep)
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(())
}

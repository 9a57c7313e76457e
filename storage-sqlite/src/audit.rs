//! The audit log, in the `audit_log` table.
//!
//! A write method stores its entry with [`insert`] on its own transaction,
//! just before committing, and only on the path where the change took
//! effect: a failed write rolls back and leaves no entry. Entries are read
//! back from their stored JSON (exactly as written); the `at`, `actor_id`
//! and `action` columns only filter, order and purge.

use slipway_core::model::{AuditEntry, AuditQuery, Timestamp};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;
use sqlx::SqliteConnection;

use crate::store::{Db, SqliteStore};

/// How many entries one purge statement deletes: the writer is given back
/// between batches, so a large purge does not hold up other writes.
const PURGE_BATCH: u64 = 1000;

/// `at` as the `at` column stores it: fixed-width UTC text with nanoseconds
/// (`2026-11-30T16:00:01.000000123Z`), so text order is time order.
pub(crate) fn sortable_time(at: &Timestamp) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// Stores `entry` on `conn`: a write's entry goes in inside the write's
/// transaction. An entry with the id of a stored one replaces it (as the
/// memory store does); ids are time-ordered with 64 random bits, so only a
/// replay of the same entry can do that.
pub(crate) async fn insert(conn: &mut SqliteConnection, entry: &AuditEntry) -> StoreResult<()> {
    let json = serde_json::to_string(entry).map_err(StoreError::other)?;
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (id) DO UPDATE SET at = excluded.at, actor_id = excluded.actor_id, \
         action = excluded.action, entry = excluded.entry",
    )
    .bind(&entry.id)
    .bind(sortable_time(&entry.at))
    .bind(entry.actor_id())
    .bind(entry.action.as_str())
    .bind(json)
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(())
}

impl SqliteStore {
    pub(crate) async fn lite_append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        insert(&mut conn, entry).await
    }

    pub(crate) async fn lite_list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        // Only the conditions asked for, so SQLite can pick the index that
        // fits (actor or action, then id) rather than one for every case.
        let mut sql = String::from("SELECT entry FROM audit_log WHERE 1 = 1");
        if query.actor.is_some() {
            sql.push_str(" AND actor_id = ?1");
        }
        if query.action.is_some() {
            sql.push_str(" AND action = ?2");
        }
        if query.before.is_some() {
            sql.push_str(" AND id < ?3");
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?4");
        let rows: Vec<String> = sqlx::query_scalar(&sql)
            .bind(query.actor.as_deref())
            .bind(query.action.map(|a| a.as_str()))
            .bind(query.before.as_deref())
            .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .fetch_all(&self.inner.readers)
            .await
            .db()?;
        rows.iter()
            .map(|json| serde_json::from_str(json).map_err(StoreError::other))
            .collect()
    }

    pub(crate) async fn lite_purge_audit(&self, before: Timestamp) -> StoreResult<u64> {
        let before = sortable_time(&before);
        let mut deleted = 0;
        loop {
            let mut conn = self.writer().await?;
            let n = sqlx::query(
                "DELETE FROM audit_log WHERE rowid IN \
                 (SELECT rowid FROM audit_log WHERE at < ?1 LIMIT ?2)",
            )
            .bind(&before)
            .bind(PURGE_BATCH as i64)
            .execute(&mut *conn)
            .await
            .db()?
            .rows_affected();
            drop(conn);
            deleted += n;
            if n < PURGE_BATCH {
                return Ok(deleted);
            }
        }
    }
}

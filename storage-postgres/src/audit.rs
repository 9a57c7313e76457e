//! The audit log (`audit_log`): entries stored as their JSON form and read
//! back as is; the `id`, `at`, `actor_id` and `action` columns only serve
//! ordering, filtering and the retention purge.
//!
//! Every write stores its entry in the same atomic step as its change, only
//! when the change takes effect: writes that run a transaction insert it
//! there ([`insert`]), single-statement writes add it to their
//! statement as a data-modifying CTE ([`insert_after`]) guarded by the rows
//! the change returned.
//!
//! An entry id already stored is not stored again (`ON CONFLICT DO
//! NOTHING`): the log is append-only, and a retried write does not fail on
//! its own entry.

use slipway_core::model::{AuditEntry, AuditQuery, Timestamp};
use slipway_core::store::StoreResult;
use sqlx::types::Json;
use sqlx::QueryBuilder;

use crate::store::{Db, PgStore};

/// How many entries one statement of [`PgStore::pg_purge_audit`] deletes:
/// a large backlog goes in short statements, each within the statement
/// timeout, and what was deleted stays deleted if a later one fails.
const PURGE_BATCH: i64 = 5_000;

/// Binds the five values of an audit row (`id, at, actor_id, action,
/// entry`), in that order, to a query of any kind.
macro_rules! bind_audit {
    ($query:expr, $entry:expr) => {{
        let entry: &slipway_core::model::AuditEntry = $entry;
        $query
            .bind(&entry.id)
            .bind(entry.at)
            .bind(entry.actor_id())
            .bind(entry.action.as_str())
            .bind(sqlx::types::Json(entry))
    }};
}
pub(crate) use bind_audit;

/// A CTE body inserting the audit row bound at `$first` .. `$first + 4`
/// ([`bind_audit!`]) when the CTE named `change` returned a row: use it as
/// `WITH change AS (… RETURNING …), audit AS ({insert_after}) SELECT …`.
pub(crate) fn insert_after(change: &str, first: usize) -> String {
    format!(
        "INSERT INTO audit_log (id, at, actor_id, action, entry) \
         SELECT ${}, ${}, ${}, ${}, ${} WHERE EXISTS (SELECT 1 FROM {change}) \
         ON CONFLICT (id) DO NOTHING",
        first,
        first + 1,
        first + 2,
        first + 3,
        first + 4
    )
}

/// Deletes row `id` of `table` — only the one of `user_id` when given —
/// and stores `entry` with it, in one statement: `NotFound` (nothing
/// written) when there was no such row.
pub(crate) async fn delete_row(
    pool: &sqlx::PgPool,
    table: &'static str,
    id: &str,
    user_id: Option<&str>,
    entry: &AuditEntry,
) -> StoreResult<()> {
    let (owned, first) = match user_id {
        Some(_) => (" AND user_id = $2", 3),
        None => ("", 2),
    };
    let sql = format!(
        "WITH deleted AS (DELETE FROM {table} WHERE id = $1{owned} RETURNING 1), \
         audit AS ({}) SELECT count(*) FROM deleted",
        insert_after("deleted", first)
    );
    let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(id);
    if let Some(user_id) = user_id {
        query = query.bind(user_id);
    }
    let deleted = bind_audit!(query, entry).fetch_one(pool).await.db()?;
    if deleted == 0 {
        return Err(slipway_core::StoreError::NotFound);
    }
    Ok(())
}

/// Inserts `entry` (in the caller's transaction, or on its own).
pub(crate) async fn insert<'e, E>(executor: E, entry: &AuditEntry) -> StoreResult<()>
where
    E: sqlx::PgExecutor<'e>,
{
    bind_audit!(
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor_id, action, entry) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        ),
        entry
    )
    .execute(executor)
    .await
    .db()?;
    Ok(())
}

impl PgStore {
    pub(crate) async fn pg_append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        insert(&self.inner.pool, entry).await
    }

    pub(crate) async fn pg_list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        // Only the filters asked for are in the statement: each shape gets a
        // plan of its own (the primary key, or the actor or action index,
        // read backwards).
        let mut sql = QueryBuilder::new("SELECT entry FROM audit_log WHERE TRUE");
        if let Some(actor) = &query.actor {
            sql.push(" AND actor_id = ").push_bind(actor);
        }
        if let Some(action) = query.action {
            sql.push(" AND action = ").push_bind(action.as_str());
        }
        if let Some(before) = &query.before {
            sql.push(" AND id < ").push_bind(before);
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
        let rows: Vec<Json<AuditEntry>> = sql
            .build_query_scalar()
            .fetch_all(&self.inner.pool)
            .await
            .db()?;
        Ok(rows.into_iter().map(|Json(entry)| entry).collect())
    }

    pub(crate) async fn pg_purge_audit(&self, before: Timestamp) -> StoreResult<u64> {
        let mut purged = 0;
        loop {
            // `= ANY (ARRAY (…))` finds both sides by index; `IN (SELECT …)`
            // would hash-join against the whole table on every batch.
            let n = sqlx::query(
                "DELETE FROM audit_log WHERE id = ANY (ARRAY \
                 (SELECT id FROM audit_log WHERE at < $1 LIMIT $2))",
            )
            .bind(before)
            .bind(PURGE_BATCH)
            .execute(&self.inner.pool)
            .await
            .db()?
            .rows_affected();
            purged += n;
            if n < PURGE_BATCH as u64 {
                return Ok(purged);
            }
        }
    }
}

//! The event log's write side: appending inside a write's transaction, and
//! giving committed events their ids.
//!
//! Writers take no shared lock. Each inserts its event row with a `seq`
//! from a sequence and no id; after the transaction commits it calls
//! [`written`], and readers call [`assign`] before they read. Both run the
//! migration's `slipway_assign_event_ids`, which, one caller at a time
//! (a transaction-level advisory lock held for that one call), gives every
//! committed event without an id the next ids in `seq` order. The ids are
//! therefore dense and become visible in order: an event whose transaction
//! commits late gets a later id, so a reader following `WHERE id > cursor`
//! never passes an event that appears afterwards, and a rolled-back write
//! leaves nothing behind (its `seq` is simply never seen).

use slipway_core::model::NewEvent;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

/// The NOTIFY channel every node LISTENs on; the payload is empty (a
/// notification only says "look again").
pub(crate) const CHANNEL: &str = "slipway_events";

/// Inserts `event` in the caller's transaction, without an id (see the
/// module documentation). Commit with [`commit`].
pub(crate) async fn append(conn: &mut PgConnection, event: NewEvent) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO events (owner_id, project_id, kind, data) VALUES ($1, $2, $3, $4)")
        .bind(event.owner_id)
        .bind(event.project_id)
        .bind(event.kind.as_str())
        .bind(event.data)
        .execute(conn)
        .await?;
    Ok(())
}

/// Commits a transaction that [`append`]ed events, then calls [`written`].
/// Only the commit's failure is the write's: once it committed, a failed
/// wake-up is logged (readers poll, and the next write or read assigns).
pub(crate) async fn commit(
    tx: Transaction<'_, Postgres>,
    pool: &PgPool,
    retention: u64,
) -> Result<(), sqlx::Error> {
    tx.commit().await?;
    if let Err(e) = written(pool, retention).await {
        tracing::warn!(error = %e, "event written, but assigning its id or the wake-up failed");
    }
    Ok(())
}

/// After a commit, in a transaction of its own: assigns ids unless another
/// caller is assigning (then it does not wait), prunes past `retention`, and
/// NOTIFYs every node. See `slipway_events_written` in the migrations for
/// why the NOTIFY is no longer part of the writing transaction.
pub(crate) async fn written(pool: &PgPool, retention: u64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT slipway_events_written($1, $2)")
        .bind(retention_i64(retention))
        .bind(CHANNEL)
        .execute(pool)
        .await?;
    Ok(())
}

/// Gives every committed event without an id its id (waiting for a
/// concurrent assigner to finish), prunes past `retention`, and returns the
/// newest id (0 for an empty log). Cheap when nothing waits for an id: one
/// probe of a partial index, no lock.
pub(crate) async fn assign(pool: &PgPool, retention: u64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT slipway_assign_event_ids($1, TRUE)")
        .bind(retention_i64(retention))
        .fetch_one(pool)
        .await
}

fn retention_i64(retention: u64) -> i64 {
    i64::try_from(retention.max(1)).unwrap_or(i64::MAX)
}

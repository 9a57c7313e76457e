//! The event log's write side: appending inside a write's transaction, and
//! giving committed events their ids.
//!
//! Writers take no lock other writers wait for. Each inserts its event row
//! with a `seq` from a sequence and no id ([`append`]); readers call
//! [`assign`] before they read, and writers, without waiting, as they
//! append. Both run the migration's `slipway_assign_event_ids`, which, one
//! caller at a time (a transaction-level advisory lock), gives every
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

/// Appends `event` in the caller's transaction, as its last statement
/// (its row locks already taken), without an id: one call of the
/// migration's `slipway_append_event`, which first assigns the ids of
/// events others committed if no one else is assigning (it never waits;
/// that assignment commits with this write, at no extra cost). Commit with
/// [`commit`].
pub(crate) async fn append(
    conn: &mut PgConnection,
    event: NewEvent,
    retention: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT slipway_append_event($1, $2, $3, $4, $5)")
        .bind(event.owner_id)
        .bind(event.project_id)
        .bind(event.kind.as_str())
        .bind(event.data)
        .bind(retention_i64(retention))
        .execute(conn)
        .await?;
    Ok(())
}

/// Commits a transaction that [`append`]ed events, then [`notify`]s. Only
/// the commit's failure is the write's: once it committed, a failed wake-up
/// is logged (readers also poll).
pub(crate) async fn commit(
    tx: Transaction<'_, Postgres>,
    pool: &PgPool,
) -> Result<(), sqlx::Error> {
    tx.commit().await?;
    if let Err(e) = notify(pool).await {
        tracing::warn!(error = %e, "event written, but its wake-up failed");
    }
    Ok(())
}

/// NOTIFYs every node, after the write's commit and in a transaction of
/// its own: PostgreSQL serializes the commits of notifying transactions (a
/// cluster-wide lock held through the commit's WAL flush), so a NOTIFY in
/// the writing transaction would put writers back in single file. This one
/// commits asynchronously: it wrote nothing worth a flush, and a lost
/// wake-up is caught by the readers' poll.
pub(crate) async fn notify(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('synchronous_commit', 'off', TRUE), pg_notify($1, '')")
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

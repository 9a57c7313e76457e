//! Appending to the event log inside a write's transaction.

use std::sync::atomic::{AtomicI64, Ordering};

use slipway_core::model::NewEvent;
use sqlx::SqliteConnection;

/// The newest event id this store has committed, or found committed, since
/// the log last went back: subscribers' cursors (ids they were given) are
/// at most this. Changed only while holding the writer connection: raised
/// after each commit that appended events (`SqliteStore::committed`, never
/// to an id a rollback may give back), lowered when `last_event_id` finds
/// the log went back.
#[derive(Debug, Default)]
pub(crate) struct HighWater(AtomicI64);

impl HighWater {
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// After `id` committed (or was found in the file on open).
    pub(crate) fn raise(&self, id: i64) {
        self.0.fetch_max(id, Ordering::SeqCst);
    }

    /// The log went back to `id`, and the caller reports it (under the
    /// writer connection, so no write is in flight).
    pub(crate) fn lower(&self, id: i64) {
        self.0.store(id, Ordering::SeqCst);
    }
}

/// Appends `event` in the caller's transaction and returns its id, pruning
/// events more than `retention` ids old.
///
/// The counter row is updated in the same transaction, so a rollback gives
/// the id back; there is one writer at a time, so ids commit in order.
///
/// `high_water` is the store's [`HighWater`]. A counter below it means the
/// log went back behind the store's back (an older copy of the file
/// restored, the data wiped over another connection) while subscribers may
/// hold cursors up to it. The id then skips to `high_water + 2`, leaving
/// `high_water + 1` unused: a subscriber reading after its cursor finds the
/// gap, gets `Resync` and then this event, instead of taking the new
/// events for ones it already passed.
pub(crate) async fn append(
    conn: &mut SqliteConnection,
    event: NewEvent,
    retention: u64,
    high_water: &HighWater,
) -> Result<i64, sqlx::Error> {
    let retention = i64::try_from(retention.max(1)).unwrap_or(i64::MAX);
    let counter = last_id(&mut *conn).await?;
    let floor = high_water.get();
    let id = if counter < floor {
        tracing::warn!(
            counter,
            high_water = floor,
            "the event log went back behind the store (the database file was restored or \
             changed by another connection): new event ids continue after a gap, and \
             subscribers resync"
        );
        floor.saturating_add(2)
    } else {
        counter.saturating_add(1)
    };
    sqlx::query("UPDATE event_counter SET last_id = ?1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let data = serde_json::to_string(&event.data).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO events (id, owner_id, project_id, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(id)
    .bind(event.owner_id)
    .bind(event.project_id)
    .bind(event.kind.as_str())
    .bind(data)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM events WHERE id <= ?1")
        .bind(id.saturating_sub(retention))
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// The id of the newest committed event (0 for an empty log).
pub(crate) async fn last_id<'e, E>(executor: E) -> Result<i64, sqlx::Error>
where
    E: sqlx::SqliteExecutor<'e>,
{
    sqlx::query_scalar("SELECT last_id FROM event_counter")
        .fetch_one(executor)
        .await
}

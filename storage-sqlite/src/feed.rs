//! The log interface core's event feed follows: pages of the `events` table
//! and in-process wake-ups.
//!
//! Only this process writes the file, so every commit is seen here: a write
//! that appended events signals it after its commit (`SqliteStore::committed`).
//! The table is the truth; the signal only says "look again", and the feed
//! also re-reads every poll interval, as a safety net for a write whose
//! caller went away between its commit and the signal. Writes over another
//! connection (a wiped or restored log) signal nothing: the poll, or the
//! store's next write (`events::append`), finds them.

use futures::StreamExt;
use slipway_core::model::{Event, EventKind};
use slipway_core::store::EventSignals;
use sqlx::sqlite::SqlitePool;
use tokio::sync::watch;

/// The wake-ups of a store's signal channel.
pub(crate) fn signals(rx: watch::Receiver<u64>) -> EventSignals {
    tokio_stream::wrappers::WatchStream::from_changes(rx)
        .map(|_| ())
        .boxed()
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    owner_id: String,
    project_id: String,
    kind: String,
    data: String,
}

/// Up to `limit` events after `after`, in id order.
pub(crate) async fn read_page(
    pool: &SqlitePool,
    after: i64,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT id, owner_id, project_id, kind, data FROM events \
         WHERE id > ?1 ORDER BY id LIMIT ?2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let kind = EventKind::parse(&r.kind).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown event kind {:?}", r.kind).into())
            })?;
            let data = serde_json::from_str(&r.data).map_err(|e| sqlx::Error::Decode(e.into()))?;
            Ok(Event {
                id: u64::try_from(r.id).unwrap_or(0),
                owner_id: r.owner_id.into(),
                project_id: r.project_id.into(),
                kind,
                data,
            })
        })
        .collect()
}

//! The log interface core's event feed follows: pages of the `events` table
//! and LISTEN wake-ups.
//!
//! The table is the truth; notifications only say "look again". Each
//! [`signals`] stream LISTENs on its own connection (a pool of one, so
//! sqlx's listener reconnects by itself) and yields on every notification
//! and after every reconnect, when notifications may have been missed.

use futures::StreamExt;
use slipway_core::model::{Event, EventKind};
use slipway_core::store::EventSignals;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::time::Duration;

use crate::events::CHANNEL;

/// A LISTEN connection on the events channel, as a stream of wake-ups; it
/// ends when the connection fails for good (core then asks again).
pub(crate) async fn signals(listen: PgConnectOptions) -> Result<EventSignals, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(listen);
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(
        futures::stream::unfold(listener, |mut listener| async move {
            match listener.try_recv().await {
                // One wake-up covers every notification already buffered.
                Ok(Some(_)) => {
                    while listener.next_buffered().is_some() {}
                    Some(((), listener))
                }
                // Reconnected (LISTEN included): notifications may have been missed.
                Ok(None) => Some(((), listener)),
                Err(e) => {
                    tracing::warn!(error = %e, "event listener lost its connection");
                    None
                }
            }
        })
        .boxed(),
    )
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    owner_id: String,
    project_id: String,
    kind: String,
    data: serde_json::Value,
}

/// Up to `limit` events after `after`, in id order (events still without
/// an id are not read: call [`crate::events::assign`] first).
pub(crate) async fn read_page(
    pool: &PgPool,
    after: i64,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT id, owner_id, project_id, kind, data FROM events \
         WHERE id > $1 ORDER BY id LIMIT $2",
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
            Ok(Event {
                id: u64::try_from(r.id).unwrap_or(0),
                owner_id: r.owner_id.into(),
                project_id: r.project_id.into(),
                kind,
                data: r.data,
            })
        })
        .collect()
}

//! Appending to the event log inside a write's transaction.

use slipway_core::model::NewEvent;
use sqlx::PgConnection;

/// The NOTIFY channel every node LISTENs on; the payload is the event id.
pub(crate) const CHANNEL: &str = "slipway_events";

/// Appends `event` in the caller's transaction and returns its id.
///
/// Updating the counter row takes its row lock until the transaction ends,
/// so concurrent writers get ids one after the other and commit in id
/// order; a rollback returns the id. The same statement prunes events older
/// than `retention` ids and queues the notification PostgreSQL sends on commit.
pub(crate) async fn append(
    conn: &mut PgConnection,
    event: NewEvent,
    retention: u64,
) -> Result<i64, sqlx::Error> {
    let retention = i64::try_from(retention.max(1)).unwrap_or(i64::MAX);
    sqlx::query_scalar(
        "WITH c AS (UPDATE event_counter SET last_id = last_id + 1 RETURNING last_id), \
              ins AS (INSERT INTO events (id, owner_id, project_id, kind, data) \
                      SELECT last_id, $1, $2, $3, $4 FROM c RETURNING id), \
              pruned AS (DELETE FROM events WHERE id <= (SELECT last_id FROM c) - $5) \
         SELECT id FROM ins, LATERAL (SELECT pg_notify($6, ins.id::text)) n",
    )
    .bind(event.owner_id)
    .bind(event.project_id)
    .bind(event.kind.as_str())
    .bind(event.data)
    .bind(retention)
    .bind(CHANNEL)
    .fetch_one(conn)
    .await
}

/// The id of the newest committed event (0 for an empty log).
pub(crate) async fn last_id<'e, E>(executor: E) -> Result<i64, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query_scalar("SELECT last_id FROM event_counter")
        .fetch_one(executor)
        .await
}

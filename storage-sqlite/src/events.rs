//! Appending to the event log inside a write's transaction.

use slipway_core::model::NewEvent;
use sqlx::SqliteConnection;

/// Appends `event` in the caller's transaction and returns its id, pruning
/// events more than `retention` ids old.
///
/// The counter row is updated in the same transaction, so a rollback gives
/// the id back; there is one writer at a time, so ids commit in order.
pub(crate) async fn append(
    conn: &mut SqliteConnection,
    event: NewEvent,
    retention: u64,
) -> Result<i64, sqlx::Error> {
    let retention = i64::try_from(retention.max(1)).unwrap_or(i64::MAX);
    let id: i64 =
        sqlx::query_scalar("UPDATE event_counter SET last_id = last_id + 1 RETURNING last_id")
            .fetch_one(&mut *conn)
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

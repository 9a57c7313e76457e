//! Webhooks and their deliveries (deleted with their user by `ON DELETE
//! CASCADE`).

use slipway_core::error::Unique;
use slipway_core::model::{AuditEntry, Sealed, Timestamp, Webhook, WebhookDelivery};
use slipway_core::model::{UserId, WebhookId};
use slipway_core::store::{StoreResult, WEBHOOK_DELIVERIES_KEPT};
use slipway_core::StoreError;
use sqlx::Connection as _;

use crate::audit;
use crate::projects::within_quota;
use crate::store::{Db, SqliteStore};

const WEBHOOK_COLS: &str =
    "id, user_id, url, events, project_ids, secret, created_at, last_event_id";

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: String,
    user_id: String,
    url: String,
    events: String,
    project_ids: Option<String>,
    secret: Vec<u8>,
    created_at: Timestamp,
    last_event_id: i64,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;
    fn try_from(r: WebhookRow) -> StoreResult<Self> {
        Ok(Webhook {
            id: r.id.into(),
            user_id: r.user_id.into(),
            url: r.url,
            events: serde_json::from_str(&r.events).map_err(StoreError::other)?,
            project_ids: r
                .project_ids
                .map(|ids| serde_json::from_str(&ids))
                .transpose()
                .map_err(StoreError::other)?,
            secret: Sealed(r.secret),
            created_at: r.created_at,
            cursor: r.last_event_id as u64,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    webhook_id: String,
    event_id: i64,
    delivered: bool,
    status_code: Option<i64>,
    last_error: Option<String>,
    attempts: i64,
    first_attempt_at: Timestamp,
    last_attempt_at: Timestamp,
}

impl From<DeliveryRow> for WebhookDelivery {
    fn from(r: DeliveryRow) -> Self {
        WebhookDelivery {
            webhook_id: r.webhook_id.into(),
            event_id: r.event_id as u64,
            delivered: r.delivered,
            status_code: r.status_code.map(|c| c as u16),
            last_error: r.last_error,
            attempts: r.attempts as u32,
            first_attempt_at: r.first_attempt_at,
            last_attempt_at: r.last_attempt_at,
        }
    }
}

impl SqliteStore {
    /// On the writer, in one transaction: the user's webhooks counted
    /// against `max_kept`, the insert and the audit entry (exact: writes
    /// are serialized).
    pub(crate) async fn lite_create_webhook(
        &self,
        hook: Webhook,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Webhook> {
        let events = serde_json::to_string(&hook.events).map_err(StoreError::other)?;
        let project_ids = hook
            .project_ids
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(StoreError::other)?;
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        within_quota(
            &mut tx,
            "SELECT count(*) FROM webhooks WHERE user_id = ?1",
            &hook.user_id,
            max_kept,
        )
        .await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO webhooks ({WEBHOOK_COLS}) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
             WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2) \
               AND NOT EXISTS (SELECT 1 FROM webhooks WHERE id = ?1)"
        ))
        .bind(&hook.id)
        .bind(&hook.user_id)
        .bind(&hook.url)
        .bind(events)
        .bind(project_ids)
        .bind(&hook.secret.0)
        .bind(hook.created_at)
        .bind(hook.cursor as i64)
        .execute(&mut *tx)
        .await
        .db()?
        .rows_affected();
        if inserted == 0 {
            let user: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?1")
                .bind(&hook.user_id)
                .fetch_optional(&mut *tx)
                .await
                .db()?;
            return Err(match user {
                None => StoreError::NotFound,
                Some(_) => StoreError::conflict(Unique::Id),
            });
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(hook)
    }

    pub(crate) async fn lite_list_webhooks(
        &self,
        user_id: Option<&UserId>,
    ) -> StoreResult<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks WHERE ?1 IS NULL OR user_id = ?1 ORDER BY seq"
        ))
        .bind(user_id)
        .fetch_all(&self.inner.readers)
        .await
        .db()?;
        rows.into_iter().map(Webhook::try_from).collect()
    }

    pub(crate) async fn lite_get_webhook(
        &self,
        user_id: &UserId,
        id: &WebhookId,
    ) -> StoreResult<Webhook> {
        let row: Option<WebhookRow> = sqlx::query_as(&format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = ?1 AND user_id = ?2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.inner.readers)
        .await
        .db()?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    pub(crate) async fn lite_delete_webhook(
        &self,
        user_id: &UserId,
        id: &WebhookId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        // Its deliveries go by ON DELETE CASCADE.
        let deleted = sqlx::query("DELETE FROM webhooks WHERE id = ?1 AND user_id = ?2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(())
    }

    pub(crate) async fn lite_lease_webhook(
        &self,
        id: &WebhookId,
        node: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let now = chrono::Utc::now().timestamp_millis();
        let mut conn = self.writer().await?;
        let leased = sqlx::query(
            "UPDATE webhooks SET lease_node = ?2, lease_until = ?3 WHERE id = ?1 \
             AND (lease_node IS NULL OR lease_node = ?2 OR lease_until < ?4)",
        )
        .bind(id)
        .bind(node)
        .bind(until.timestamp_millis())
        .bind(now)
        .execute(&mut *conn)
        .await
        .db()?
        .rows_affected();
        Ok(leased > 0)
    }

    pub(crate) async fn lite_set_webhook_cursor(
        &self,
        id: &WebhookId,
        node: &str,
        cursor: u64,
    ) -> StoreResult<bool> {
        let mut conn = self.writer().await?;
        let set =
            sqlx::query("UPDATE webhooks SET last_event_id = ?3 WHERE id = ?1 AND lease_node = ?2")
                .bind(id)
                .bind(node)
                .bind(cursor as i64)
                .execute(&mut *conn)
                .await
                .db()?
                .rows_affected();
        Ok(set > 0)
    }

    pub(crate) async fn lite_record_webhook_delivery(&self, d: WebhookDelivery) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.db()?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, delivered, status_code, \
             last_error, attempts, first_attempt_at, last_attempt_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?1) \
             ON CONFLICT (webhook_id, event_id) DO UPDATE SET delivered = excluded.delivered, \
             status_code = excluded.status_code, last_error = excluded.last_error, \
             attempts = excluded.attempts, first_attempt_at = excluded.first_attempt_at, \
             last_attempt_at = excluded.last_attempt_at",
        )
        .bind(&d.webhook_id)
        .bind(d.event_id as i64)
        .bind(d.delivered)
        .bind(d.status_code.map(i64::from))
        .bind(&d.last_error)
        .bind(i64::from(d.attempts))
        .bind(d.first_attempt_at)
        .bind(d.last_attempt_at)
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE webhook_id = ?1 AND event_id NOT IN \
             (SELECT event_id FROM webhook_deliveries WHERE webhook_id = ?1 \
              ORDER BY event_id DESC LIMIT ?2)",
        )
        .bind(&d.webhook_id)
        .bind(WEBHOOK_DELIVERIES_KEPT as i64)
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(())
    }

    pub(crate) async fn lite_list_webhook_deliveries(
        &self,
        webhook_id: &WebhookId,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT webhook_id, event_id, delivered, status_code, last_error, attempts, \
             first_attempt_at, last_attempt_at FROM webhook_deliveries WHERE webhook_id = ?1 \
             ORDER BY event_id DESC",
        )
        .bind(webhook_id)
        .fetch_all(&self.inner.readers)
        .await
        .db()?;
        Ok(rows.into_iter().map(WebhookDelivery::from).collect())
    }
}

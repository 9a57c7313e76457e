//! Webhooks and their deliveries (deleted with their user by `ON DELETE
//! CASCADE`).

use slipway_core::model::{AuditEntry, Sealed, Timestamp, Webhook, WebhookDelivery};
use slipway_core::model::{ProjectId, UserId, WebhookId};
use slipway_core::store::{StoreResult, WEBHOOK_DELIVERIES_KEPT};
use slipway_core::StoreError;

use crate::audit::{self, bind_audit};
use crate::store::{micros, Db, PgStore};
use crate::users::lock_user_within_quota;

const WEBHOOK_COLS: &str =
    "id, user_id, url, events, project_ids, secret, created_at, last_event_id";

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: String,
    user_id: String,
    url: String,
    events: Vec<String>,
    project_ids: Option<Vec<ProjectId>>,
    secret: Vec<u8>,
    created_at: Timestamp,
    last_event_id: i64,
}

impl From<WebhookRow> for Webhook {
    fn from(r: WebhookRow) -> Self {
        Webhook {
            id: r.id.into(),
            user_id: r.user_id.into(),
            url: r.url,
            events: r.events,
            project_ids: r.project_ids,
            secret: Sealed(r.secret),
            created_at: r.created_at,
            cursor: r.last_event_id as u64,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    webhook_id: String,
    event_id: i64,
    delivered: bool,
    status_code: Option<i32>,
    last_error: Option<String>,
    attempts: i32,
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

impl PgStore {
    /// One transaction: the user's row locked and their webhooks counted
    /// against `max_kept` ([`lock_user_within_quota`]: exact under
    /// concurrent creates; webhooks are created rarely), then the insert
    /// with its audit entry.
    pub(crate) async fn pg_create_webhook(
        &self,
        hook: Webhook,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Webhook> {
        let mut hook = hook;
        hook.created_at = micros(hook.created_at);
        let mut tx = self.inner.pool.begin().await.db()?;
        lock_user_within_quota(
            &mut tx,
            "SELECT count(*) FROM webhooks WHERE user_id = $1",
            &hook.user_id,
            max_kept,
        )
        .await?;
        // The foreign key makes "the user exists" atomic with the insert;
        // a failed insert fails the statement, audit entry included.
        bind_audit!(
            sqlx::query(&format!(
                "WITH created AS (INSERT INTO webhooks ({WEBHOOK_COLS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING 1) {}",
                audit::insert_after("created", 9)
            ))
            .bind(&hook.id)
            .bind(&hook.user_id)
            .bind(&hook.url)
            .bind(&hook.events)
            .bind(&hook.project_ids)
            .bind(&hook.secret.0)
            .bind(hook.created_at)
            .bind(hook.cursor as i64),
            audit
        )
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(hook)
    }

    pub(crate) async fn pg_list_webhooks(
        &self,
        user_id: Option<&UserId>,
    ) -> StoreResult<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks WHERE $1::text IS NULL OR user_id = $1 ORDER BY seq"
        ))
        .bind(user_id)
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        Ok(rows.into_iter().map(Webhook::from).collect())
    }

    pub(crate) async fn pg_get_webhook(
        &self,
        user_id: &UserId,
        id: &WebhookId,
    ) -> StoreResult<Webhook> {
        let row: Option<WebhookRow> = sqlx::query_as(&format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        row.map(Webhook::from).ok_or(StoreError::NotFound)
    }

    pub(crate) async fn pg_delete_webhook(
        &self,
        user_id: &UserId,
        id: &WebhookId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        // Its deliveries go by ON DELETE CASCADE.
        audit::delete_row(&self.inner.pool, "webhooks", id, Some(user_id), audit).await
    }

    pub(crate) async fn pg_lease_webhook(
        &self,
        id: &WebhookId,
        node: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let leased = sqlx::query(
            "UPDATE webhooks SET lease_node = $2, lease_until = $3 WHERE id = $1 \
             AND (lease_node IS NULL OR lease_node = $2 OR lease_until < $4)",
        )
        .bind(id)
        .bind(node)
        .bind(until)
        .bind(chrono::Utc::now())
        .execute(&self.inner.pool)
        .await
        .db()?
        .rows_affected();
        Ok(leased > 0)
    }

    pub(crate) async fn pg_set_webhook_cursor(
        &self,
        id: &WebhookId,
        node: &str,
        cursor: u64,
    ) -> StoreResult<bool> {
        let set =
            sqlx::query("UPDATE webhooks SET last_event_id = $3 WHERE id = $1 AND lease_node = $2")
                .bind(id)
                .bind(node)
                .bind(cursor as i64)
                .execute(&self.inner.pool)
                .await
                .db()?
                .rows_affected();
        Ok(set > 0)
    }

    pub(crate) async fn pg_record_webhook_delivery(&self, d: WebhookDelivery) -> StoreResult<()> {
        // One statement: insert or replace, then trim to the newest kept.
        sqlx::query(
            "WITH up AS ( \
               INSERT INTO webhook_deliveries (webhook_id, event_id, delivered, status_code, \
                 last_error, attempts, first_attempt_at, last_attempt_at) \
               SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1) \
               ON CONFLICT (webhook_id, event_id) DO UPDATE SET delivered = excluded.delivered, \
                 status_code = excluded.status_code, last_error = excluded.last_error, \
                 attempts = excluded.attempts, first_attempt_at = excluded.first_attempt_at, \
                 last_attempt_at = excluded.last_attempt_at \
               RETURNING event_id) \
             DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND event_id NOT IN ( \
               SELECT event_id FROM (SELECT event_id FROM webhook_deliveries WHERE webhook_id = $1 \
                 UNION SELECT event_id FROM up) AS k ORDER BY event_id DESC LIMIT $9)",
        )
        .bind(&d.webhook_id)
        .bind(d.event_id as i64)
        .bind(d.delivered)
        .bind(d.status_code.map(i32::from))
        .bind(&d.last_error)
        .bind(d.attempts as i32)
        .bind(micros(d.first_attempt_at))
        .bind(micros(d.last_attempt_at))
        .bind(WEBHOOK_DELIVERIES_KEPT as i64)
        .execute(&self.inner.pool)
        .await
        .db()?;
        Ok(())
    }

    pub(crate) async fn pg_list_webhook_deliveries(
        &self,
        webhook_id: &WebhookId,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT webhook_id, event_id, delivered, status_code, last_error, attempts, \
             first_attempt_at, last_attempt_at FROM webhook_deliveries WHERE webhook_id = $1 \
             ORDER BY event_id DESC",
        )
        .bind(webhook_id)
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        Ok(rows.into_iter().map(WebhookDelivery::from).collect())
    }
}

//! Webhooks: the record (JSON), its state hash (cursor and lease) and its
//! recent deliveries (a sorted set by event id).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use slipway_core::model::{
    AuditEntry, ProjectId, Sealed, Timestamp, UserId, Webhook, WebhookDelivery, WebhookId,
};
use slipway_core::store::{StoreResult, WEBHOOK_DELIVERIES_KEPT};
use slipway_core::StoreError;

use crate::audit::AuditArgs;
use crate::records::{from_json, to_json};
use crate::scripts::{
    CREATE_WEBHOOK, DELETE_WEBHOOK, LEASE_WEBHOOK, RECORD_WEBHOOK_DELIVERY, SET_WEBHOOK_CURSOR,
};
use crate::{quota_arg, refused, RedisStore, Reply};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookRec {
    id: WebhookId,
    user_id: UserId,
    url: String,
    events: Vec<String>,
    project_ids: Option<Vec<ProjectId>>,
    /// The sealed secret, base64.
    secret: String,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryRec {
    event_id: u64,
    delivered: bool,
    status_code: Option<u16>,
    last_error: Option<String>,
    attempts: u32,
    first_attempt_at: DateTime<Utc>,
    last_attempt_at: DateTime<Utc>,
}

fn into_webhook(raw: &str, cursor: Option<String>) -> StoreResult<Webhook> {
    let r: WebhookRec = from_json(raw)?;
    Ok(Webhook {
        secret: Sealed(
            base64::engine::general_purpose::STANDARD
                .decode(&r.secret)
                .map_err(|_| StoreError::other("malformed webhook record in Redis"))?,
        ),
        id: r.id,
        user_id: r.user_id,
        url: r.url,
        events: r.events,
        project_ids: r.project_ids,
        created_at: r.created_at,
        cursor: cursor.and_then(|c| c.parse().ok()).unwrap_or(0),
    })
}

async fn cursor_of(s: &RedisStore, id: &WebhookId) -> StoreResult<Option<String>> {
    let mut conn = s.conn();
    let key = s.key(&format!("webhook:{id}:state"));
    s.timed(async { conn.hget(key, "cursor").await }).await
}

async fn with_cursors(s: &RedisStore, raws: Vec<String>) -> StoreResult<Vec<Webhook>> {
    let mut out = Vec::with_capacity(raws.len());
    for raw in raws {
        let rec: WebhookRec = from_json(&raw)?;
        let cursor = cursor_of(s, &rec.id).await?;
        out.push(into_webhook(&raw, cursor)?);
    }
    Ok(out)
}

pub(crate) async fn create_webhook(
    s: &RedisStore,
    hook: Webhook,
    max_kept: usize,
    audit: &AuditEntry,
) -> StoreResult<Webhook> {
    let audit = AuditArgs::new(audit)?;
    let rec = to_json(&WebhookRec {
        id: hook.id.clone(),
        user_id: hook.user_id.clone(),
        url: hook.url.clone(),
        events: hook.events.clone(),
        project_ids: hook.project_ids.clone(),
        secret: base64::engine::general_purpose::STANDARD.encode(&hook.secret.0),
        created_at: hook.created_at,
    })?;
    let cursor = hook.cursor.to_string();
    // The script counts the user's webhooks and writes in one step.
    let max_kept = quota_arg(max_kept);
    match s
        .write_audited(
            &CREATE_WEBHOOK,
            &[&hook.user_id, &hook.id, &rec, &cursor, &max_kept],
            &audit,
        )
        .await?
    {
        Reply::Ok(_) => Ok(hook),
        other => refused(other),
    }
}

pub(crate) async fn list_webhooks(
    s: &RedisStore,
    user_id: Option<&UserId>,
) -> StoreResult<Vec<Webhook>> {
    let zset = match user_id {
        Some(uid) => format!("user:{uid}:webhooks"),
        None => "webhooks".to_string(),
    };
    let raws = s.records_of(&zset, "webhook").await?;
    with_cursors(s, raws).await
}

pub(crate) async fn get_webhook(
    s: &RedisStore,
    user_id: &UserId,
    id: &WebhookId,
) -> StoreResult<Webhook> {
    let raw = s
        .get_raw(&format!("webhook:{id}"))
        .await?
        .ok_or(StoreError::NotFound)?;
    let cursor = cursor_of(s, id).await?;
    let hook = into_webhook(&raw, cursor)?;
    if hook.user_id != user_id {
        return Err(StoreError::NotFound);
    }
    Ok(hook)
}

pub(crate) async fn delete_webhook(
    s: &RedisStore,
    user_id: &UserId,
    id: &WebhookId,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let audit = AuditArgs::new(audit)?;
    match s
        .write_audited(&DELETE_WEBHOOK, &[user_id, id], &audit)
        .await?
    {
        Reply::Ok(_) => Ok(()),
        other => refused(other),
    }
}

pub(crate) async fn lease_webhook(
    s: &RedisStore,
    id: &WebhookId,
    node: &str,
    until: Timestamp,
) -> StoreResult<bool> {
    let until = until.timestamp_millis().to_string();
    let now = Utc::now().timestamp_millis().to_string();
    match s.write(&LEASE_WEBHOOK, &[id, node, &until, &now]).await? {
        Reply::Ok(_) => Ok(true),
        Reply::Refused | Reply::NotFound => Ok(false),
        other => refused(other),
    }
}

pub(crate) async fn set_webhook_cursor(
    s: &RedisStore,
    id: &WebhookId,
    node: &str,
    cursor: u64,
) -> StoreResult<bool> {
    let cursor = cursor.to_string();
    match s.write(&SET_WEBHOOK_CURSOR, &[id, node, &cursor]).await? {
        Reply::Ok(_) => Ok(true),
        Reply::Refused | Reply::NotFound => Ok(false),
        other => refused(other),
    }
}

pub(crate) async fn record_webhook_delivery(s: &RedisStore, d: WebhookDelivery) -> StoreResult<()> {
    let rec = to_json(&DeliveryRec {
        event_id: d.event_id,
        delivered: d.delivered,
        status_code: d.status_code,
        last_error: d.last_error.clone(),
        attempts: d.attempts,
        first_attempt_at: d.first_attempt_at,
        last_attempt_at: d.last_attempt_at,
    })?;
    let event = d.event_id.to_string();
    let kept = WEBHOOK_DELIVERIES_KEPT.to_string();
    match s
        .write(
            &RECORD_WEBHOOK_DELIVERY,
            &[&d.webhook_id, &event, &rec, &kept],
        )
        .await?
    {
        Reply::Ok(_) => Ok(()),
        other => refused(other),
    }
}

pub(crate) async fn list_webhook_deliveries(
    s: &RedisStore,
    webhook_id: &WebhookId,
) -> StoreResult<Vec<WebhookDelivery>> {
    let mut conn = s.conn();
    let key = s.key(&format!("webhook:{webhook_id}:deliveries"));
    let raws: Vec<String> = s.timed(async { conn.zrevrange(key, 0, -1).await }).await?;
    raws.iter()
        .map(|raw| {
            let r: DeliveryRec = from_json(raw)?;
            Ok(WebhookDelivery {
                webhook_id: webhook_id.clone(),
                event_id: r.event_id,
                delivered: r.delivered,
                status_code: r.status_code,
                last_error: r.last_error,
                attempts: r.attempts,
                first_attempt_at: r.first_attempt_at,
                last_attempt_at: r.last_attempt_at,
            })
        })
        .collect()
}

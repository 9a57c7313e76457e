//! The webhook delivery worker: one task per instance (started when the API
//! is mounted inside a tokio runtime: [`Slipway::start_webhook_delivery`](crate::Slipway::start_webhook_delivery)), stopped with
//! [`Slipway::shutdown_websockets`](crate::Slipway::shutdown_websockets) or
//! when the last handle of the instance is dropped.
//!
//! Every poll it lists the webhooks and starts serving each one not being
//! served already: it takes (or renews) the webhook's lease in the store so
//! only one node delivers a given webhook, and POSTs the events after the
//! webhook's stored cursor, in order: a 2xx moves the cursor on; a failure is
//! retried with exponential backoff and given up after
//! [`Config::webhook_give_up_after`](crate::Config::webhook_give_up_after),
//! when the cursor moves on too. A cursor behind the retained log records a
//! `resync` failure and jumps to the newest event.
//!
//! Webhooks are served independently of each other: at most one serve per
//! webhook and 64 in all run at once, and a poll does not wait for the
//! serves under way, so a slow receiver only delays its own webhook. A serve
//! stops starting attempts after 30 s (the lease) and a later poll continues
//! where it stopped.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{watch, Notify};

use crate::model::{Event, Timestamp, Webhook, WebhookDelivery, WebhookId};
use crate::services::Core;
use crate::Shared;

/// How long a lease lasts; renewed when a serve starts and before each
/// attempt.
const LEASE: Duration = Duration::from_secs(30);
/// How long one serve of a webhook keeps starting attempts; the next poll
/// continues with the events left.
const SERVE_BUDGET: Duration = LEASE;
/// Most webhooks served at once by one node.
const MAX_IN_FLIGHT: usize = 64;
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How often the worker looks again while some webhook exists.
const BUSY_POLL: Duration = Duration::from_millis(500);
/// How often the worker looks again while there is no webhook (a webhook
/// created on this node wakes it at once).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// How long giving the leases back on shutdown may take.
const LEASE_RELEASE: Duration = Duration::from_secs(2);
/// Events read per serve of a webhook.
const BATCH: usize = 100;

/// A delivery being retried.
#[derive(Clone)]
struct Retry {
    event_id: u64,
    attempts: u32,
    first_at: Timestamp,
    next_at: Instant,
}

/// The worker's stop switch, held by the instance.
pub(crate) struct WorkerHandle {
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) wake: Arc<Notify>,
    /// `true` while no worker runs.
    stopped: watch::Sender<bool>,
    /// Whether the worker was started.
    started: std::sync::atomic::AtomicBool,
}

impl Default for WorkerHandle {
    fn default() -> Self {
        WorkerHandle {
            stop: watch::channel(false).0,
            wake: Arc::new(Notify::new()),
            stopped: watch::channel(true).0,
            started: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl WorkerHandle {
    /// Tells the worker to stop and waits until it has: the delivery
    /// attempts under way are abandoned at once (not recorded; their events
    /// stay due and are delivered again later), the store calls under way
    /// finish, and the leases are given back (at most 2 s). A purge of old
    /// audit entries under way is waited for too.
    pub(crate) fn shut_down(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.stop.send_replace(true);
        let mut stopped = self.stopped.subscribe();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    }
}

/// Marks the worker stopped when its tasks (the delivery loop and the audit
/// retention) have ended or been dropped.
struct Running(watch::Sender<bool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// Starts the worker of `shared` when a tokio runtime is present, unless
/// it was started before or the instance is shutting down.
pub(crate) fn start(shared: &Arc<Shared>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if *shared.webhook_worker.stop.borrow()
        || shared
            .webhook_worker
            .started
            .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return;
    }
    let weak = Arc::downgrade(shared);
    let stop = shared.webhook_worker.stop.subscribe();
    let wake = shared.webhook_worker.wake.clone();
    shared.webhook_worker.stopped.send_replace(false);
    // Both tasks hold the guard: the worker counts as stopped when both
    // have ended, so a shutdown also waits for a purge under way.
    let running = Arc::new(Running(shared.webhook_worker.stopped.clone()));
    handle.spawn(audit_retention(weak.clone(), stop.clone(), running.clone()));
    handle.spawn(run(weak, stop, wake, running));
}

/// How often audit entries past their retention are deleted.
const AUDIT_PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes the audit entries past their retention at start, then hourly,
/// until the instance stops (every node does it; deleting twice is
/// harmless).
async fn audit_retention(
    weak: Weak<Shared>,
    mut stop: watch::Receiver<bool>,
    _running: Arc<Running>,
) {
    loop {
        {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            shared.core.purge_audit().await;
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(AUDIT_PURGE_EVERY) => {}
        }
    }
}

async fn run(
    weak: Weak<Shared>,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
    running: Arc<Running>,
) {
    let node = crate::services::new_node_id();
    let mut retries: HashMap<WebhookId, Retry> = HashMap::new();
    let mut last_served: HashMap<WebhookId, Instant> = HashMap::new();
    let mut next = Instant::now();
    loop {
        // Nothing is being served here, and no handle of the instance is
        // held: dropping the last one ends the worker.
        tokio::select! {
            () = stopping(stop.clone()) => {
                if let Some(shared) = weak.upgrade() {
                    let _ = tokio::time::timeout(LEASE_RELEASE, release(&shared.core, &node)).await;
                }
                break;
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep_until(next.into()) => {}
        }
        let Some(shared) = weak.upgrade() else {
            break;
        };
        let book = Book {
            retries: &mut retries,
            last_served: &mut last_served,
        };
        match deliver(&shared, &node, book, &mut stop, &wake).await {
            Some(at) => next = at,
            None => break,
        }
    }
    drop(running);
}

/// What the worker keeps between polls.
struct Book<'a> {
    /// The deliveries being retried, by webhook.
    retries: &'a mut HashMap<WebhookId, Retry>,
    /// When each webhook's last serve started.
    last_served: &'a mut HashMap<WebhookId, Instant>,
}

/// Polls and serves the webhooks until none is being served: answers when
/// to poll next, or `None` once the worker has stopped (its serves ended
/// and its leases given back).
///
/// It holds the instance while serves run; when that is the only handle
/// left, the instance is shutting down and the worker stops.
async fn deliver(
    shared: &Arc<Shared>,
    node: &str,
    book: Book<'_>,
    stop: &mut watch::Receiver<bool>,
    wake: &Notify,
) -> Option<Instant> {
    let Book {
        retries,
        last_served,
    } = book;
    let core = &shared.core;
    let mut serving = FuturesUnordered::new();
    let mut busy: HashSet<WebhookId> = HashSet::new();
    loop {
        // One poll: list the webhooks (serves under way keep going
        // meanwhile) and start serving those not served yet.
        let wait = {
            let list = core.store.all_webhooks();
            tokio::pin!(list);
            let listed = loop {
                tokio::select! {
                    listed = &mut list => break listed,
                    Some((id, retry)) = serving.next() => {
                        finished(retries, &mut busy, id, retry);
                    }
                }
            };
            match listed {
                Err(e) => {
                    tracing::warn!(error = %e, "webhook worker: cannot list webhooks");
                    IDLE_POLL
                }
                Ok(hooks) if hooks.is_empty() => {
                    retries.clear();
                    last_served.clear();
                    IDLE_POLL
                }
                Ok(mut hooks) => {
                    // Forget the webhooks that are gone (a set: one pass
                    // over each map, not one over the list per entry).
                    let listed: HashSet<&WebhookId> = hooks.iter().map(|h| &h.id).collect();
                    retries.retain(|id, _| listed.contains(id));
                    last_served.retain(|id, _| listed.contains(id));
                    hooks.retain(|h| !busy.contains(&h.id));
                    // The webhooks served longest ago first, so none waits
                    // for long while every slot is taken.
                    hooks.sort_by_key(|h| last_served.get(&h.id).copied());
                    for hook in hooks {
                        if busy.len() >= MAX_IN_FLIGHT || *stop.borrow() {
                            break;
                        }
                        let retry = retries.get(&hook.id).cloned();
                        busy.insert(hook.id.clone());
                        last_served.insert(hook.id.clone(), Instant::now());
                        serving.push(serve_one(core, node, hook, retry, stop.clone()));
                    }
                    BUSY_POLL
                }
            }
        };
        let next = Instant::now() + wait;
        if serving.is_empty() && !*stop.borrow() {
            return Some(next);
        }
        // Collect the serves as they finish until the next poll is due.
        loop {
            if Arc::strong_count(shared) == 1 {
                // The host dropped its last handle: stop as on shutdown.
                shared.webhook_worker.stop.send_replace(true);
            }
            if *stop.borrow() {
                // Every serve sees the stop too: it abandons its attempt
                // and ends after the store call under way.
                while let Some((id, retry)) = serving.next().await {
                    finished(retries, &mut busy, id, retry);
                }
                let _ = tokio::time::timeout(LEASE_RELEASE, release(core, node)).await;
                return None;
            }
            tokio::select! {
                _ = stop.changed() => {}
                Some((id, retry)) = serving.next() => {
                    finished(retries, &mut busy, id, retry);
                    if serving.is_empty() {
                        return Some(next);
                    }
                }
                _ = wake.notified() => break,
                _ = tokio::time::sleep_until(next.into()) => break,
            }
        }
    }
}

/// Notes the retry a finished serve left pending.
fn finished(
    retries: &mut HashMap<WebhookId, Retry>,
    busy: &mut HashSet<WebhookId>,
    id: WebhookId,
    retry: Option<Retry>,
) {
    busy.remove(&id);
    match retry {
        Some(r) => retries.insert(id, r),
        None => retries.remove(&id),
    };
}

/// Gives the leases this node holds back (they expire at once), so another
/// node takes the webhooks over without waiting for them to run out.
async fn release(core: &Core, node: &str) {
    let Ok(hooks) = core.store.all_webhooks().await else {
        return;
    };
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    for hook in hooks {
        // Taking an expired or free lease with an end in the past leaves it
        // expired; another node's live lease is not touched.
        let _ = core.store.lease_webhook(&hook.id, node, past).await;
    }
}

/// [`serve`], answering the webhook's id with the retry left pending.
async fn serve_one(
    core: &Core,
    node: &str,
    hook: Webhook,
    retry: Option<Retry>,
    stop: watch::Receiver<bool>,
) -> (WebhookId, Option<Retry>) {
    let id = hook.id.clone();
    (id, serve(core, node, hook, retry, stop).await)
}

/// Resolves once the worker is told to stop.
async fn stopping(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn lease_until() -> Timestamp {
    chrono::Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or_default()
}

fn matches(hook: &Webhook, event: &Event) -> bool {
    event.owner_id == hook.user_id
        && hook.events.iter().any(|e| e == "project.update")
        && hook
            .project_ids
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|p| p == &event.project_id))
}

/// Delivers what is due for one webhook, starting attempts for at most
/// [`SERVE_BUDGET`]; answers the retry still pending. An attempt under way
/// when the worker is told to stop is abandoned (not recorded: its event
/// stays due).
async fn serve(
    core: &Core,
    node: &str,
    hook: Webhook,
    retry: Option<Retry>,
    stop: watch::Receiver<bool>,
) -> Option<Retry> {
    let budget_end = Instant::now() + SERVE_BUDGET;
    match core
        .store
        .lease_webhook(&hook.id, node, lease_until())
        .await
    {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::warn!(error = %e, webhook_id = %hook.id, "webhook worker: cannot lease");
            return retry;
        }
    }
    if retry.as_ref().is_some_and(|r| r.next_at > Instant::now()) {
        return retry;
    }
    // Another node may have moved the cursor before this one took the
    // lease: read it again now that it holds the lease.
    let hook = match core.store.get_webhook(&hook.user_id, &hook.id).await {
        Ok(hook) => hook,
        Err(crate::StoreError::NotFound) => return None,
        Err(e) => {
            tracing::warn!(error = %e, webhook_id = %hook.id, "webhook worker: cannot read the webhook");
            return retry;
        }
    };
    let events = match core.store.read_events(hook.cursor, BATCH).await {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, webhook_id = %hook.id, "webhook worker: cannot read events");
            return retry;
        }
    };
    let lost = match events.first() {
        Some(first) => first.id != hook.cursor + 1,
        None => false,
    };
    if lost {
        let newest = match core.store.last_event_id().await {
            Ok(n) => n,
            Err(_) => return retry,
        };
        let now = chrono::Utc::now();
        record(
            core,
            WebhookDelivery {
                webhook_id: hook.id.clone(),
                event_id: newest,
                delivered: false,
                status_code: None,
                last_error: Some(format!(
                    "resync: the events after {} are no longer retained; delivery resumes after event {newest}",
                    hook.cursor
                )),
                attempts: 0,
                first_attempt_at: now,
                last_attempt_at: now,
            },
        )
        .await;
        let _ = core.store.set_webhook_cursor(&hook.id, node, newest).await;
        return None;
    }
    let secret = match core.open_webhook_secret(&hook) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, webhook_id = %hook.id, "webhook worker: cannot open the secret");
            return retry;
        }
    };
    let mut retry = retry;
    let mut cursor = hook.cursor;
    for event in events {
        if *stop.borrow() || Instant::now() >= budget_end {
            break;
        }
        if !matches(&hook, &event) {
            cursor = event.id;
            continue;
        }
        if cursor != hook.cursor && !advance(core, &hook, node, cursor).await {
            return None;
        }
        // Keep the lease while delivering.
        if !matches!(
            core.store
                .lease_webhook(&hook.id, node, lease_until())
                .await,
            Ok(true)
        ) {
            return None;
        }
        let mut state = match retry.take() {
            Some(r) if r.event_id == event.id => r,
            _ => Retry {
                event_id: event.id,
                attempts: 0,
                first_at: chrono::Utc::now(),
                next_at: Instant::now(),
            },
        };
        let outcome = tokio::select! {
            outcome = attempt(core, &hook, &event, secret.expose()) => outcome,
            () = stopping(stop.clone()) => {
                return (state.attempts > 0).then_some(state);
            }
        };
        state.attempts += 1;
        let now = chrono::Utc::now();
        let (delivered, status_code, last_error) = match outcome {
            Ok(code) => (true, Some(code), None),
            Err((code, error)) => (false, code, Some(error)),
        };
        record(
            core,
            WebhookDelivery {
                webhook_id: hook.id.clone(),
                event_id: event.id,
                delivered,
                status_code,
                last_error: last_error.clone(),
                attempts: state.attempts,
                first_attempt_at: state.first_at,
                last_attempt_at: now,
            },
        )
        .await;
        let give_up = !delivered
            && (now - state.first_at).to_std().unwrap_or_default()
                >= core.config.webhook_give_up_after;
        if delivered || give_up {
            if give_up {
                tracing::warn!(webhook_id = %hook.id, event_id = event.id, attempts = state.attempts, "webhook delivery given up");
            }
            cursor = event.id;
            if !advance(core, &hook, node, cursor).await {
                return None;
            }
            continue;
        }
        let exp = state.attempts.saturating_sub(1).min(20);
        let backoff = core
            .config
            .webhook_retry_base
            .saturating_mul(1u32 << exp)
            .min(MAX_BACKOFF);
        tracing::info!(webhook_id = %hook.id, event_id = event.id, attempts = state.attempts, error = last_error.as_deref().unwrap_or(""), "webhook delivery failed; retrying");
        state.next_at = Instant::now() + backoff;
        return Some(state);
    }
    if cursor != hook.cursor {
        advance(core, &hook, node, cursor).await;
    }
    // Still pending when the serve stopped before reaching its event.
    retry
}

/// Stores the cursor; `false` when the lease was lost (or the store failed).
async fn advance(core: &Core, hook: &Webhook, node: &str, cursor: u64) -> bool {
    match core.store.set_webhook_cursor(&hook.id, node, cursor).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, webhook_id = %hook.id, "webhook worker: cannot store the cursor");
            false
        }
    }
}

async fn record(core: &Core, delivery: WebhookDelivery) {
    if let Err(e) = core.store.record_webhook_delivery(delivery).await {
        tracing::warn!(error = %e, "webhook worker: cannot record a delivery");
    }
}

/// The body of a delivery.
pub(crate) fn payload(event: &Event, now: Timestamp) -> String {
    serde_json::json!({
        "id": event.id.to_string(),
        "event": "project.update",
        "data": {
            "projectId": event.project_id,
            "type": event.kind.as_str(),
            "data": event.data,
        },
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
    .to_string()
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256=");
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// One POST; `Ok(status)` on 2xx, else the status (if any) and an error.
async fn attempt(
    core: &Core,
    hook: &Webhook,
    event: &Event,
    secret: &str,
) -> Result<u16, (Option<u16>, String)> {
    // The host is resolved and checked now, and the request goes to the
    // address checked (no second lookup: DNS rebinding cannot redirect it).
    let (url, addrs) =
        crate::services::resolve_target(&hook.url, core.config.webhook_allow_private)
            .await
            .map_err(|m| (None, m))?;
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .no_proxy();
    if let Some(url::Host::Domain(domain)) = url.host() {
        client = client.resolve(domain, addrs[0]);
    }
    let client = client.build().map_err(|e| (None, format!("client: {e}")))?;
    let now = chrono::Utc::now();
    let body = payload(event, now);
    let ts = now.timestamp();
    let sig = signature(secret, ts, &body);
    let sent = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "Slipway-Webhooks")
        .header("X-Slipway-Event", "project.update")
        .header("X-Slipway-Delivery", event.id.to_string())
        .header("X-Slipway-Timestamp", ts.to_string())
        .header("X-Slipway-Signature", sig)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let code = resp.status().as_u16();
            if resp.status().is_success() {
                Ok(code)
            } else {
                Err((Some(code), format!("the receiver answered {code}")))
            }
        }
        Err(e) if e.is_timeout() => Err((None, "timed out after 10 s".into())),
        Err(e) if e.is_connect() => Err((None, "could not connect".into())),
        Err(_) => Err((None, "the request failed".into())),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn a_cursor_behind_the_retained_log_records_a_resync_and_jumps_to_the_newest() {
        use crate::model::{RoleGate, Sealed, Webhook};
        use crate::testing::cases::{new_project, new_user};
        use crate::testing::CoreProjectWrites;
        let store = crate::MemoryStore::with_options(crate::store::MemoryStoreOptions {
            event_retention: 3,
            ..Default::default()
        });
        let slipway = crate::Slipway::builder()
            .secret(vec![7u8; 32])
            .store(store)
            .webhook_allow_private(true)
            .build()
            .unwrap();
        let store = slipway.store().clone();
        let user = store
            .create_user(
                new_user("a"),
                RoleGate::FirstUserAdmin,
                &crate::model::AuditEntry::new(
                    crate::model::AuditAction::ProjectCreate,
                    chrono::Utc::now(),
                ),
            )
            .await
            .unwrap();
        let hook = Webhook {
            id: crate::services::new_id(),
            user_id: user.id.clone(),
            url: "http://127.0.0.1:9/hook".into(),
            events: vec!["project.update".into()],
            project_ids: None,
            secret: Sealed(vec![0]),
            created_at: chrono::Utc::now(),
            cursor: 0,
        };
        store
            .create_webhook(
                hook.clone(),
                usize::MAX,
                &crate::model::AuditEntry::new(
                    crate::model::AuditAction::ProjectCreate,
                    chrono::Utc::now(),
                ),
            )
            .await
            .unwrap();
        // Ten events while no worker runs: the log keeps the last three.
        for _ in 0..10 {
            store
                .core_create_project(
                    new_project(&user.id),
                    &crate::model::AuditEntry::new(
                        crate::model::AuditAction::ProjectCreate,
                        chrono::Utc::now(),
                    ),
                )
                .await
                .unwrap();
        }
        slipway.start_webhook_delivery();
        let mut cursor = 0;
        for _ in 0..600 {
            cursor = store.get_webhook(&user.id, &hook.id).await.unwrap().cursor;
            if cursor != 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(cursor, 10);
        let deliveries = store.list_webhook_deliveries(&hook.id).await.unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].event_id, 10);
        assert!(!deliveries[0].delivered);
        assert!(deliveries[0]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("resync"));
        slipway.shutdown_websockets().await;
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently (Python's hmac module).
        assert_eq!(
            super::signature("whsec_test", 1764510000, r#"{"id":"1"}"#),
            "sha256=870b60925376d42686b8830dce79564c6bd505051a461605767271de6d268580"
        );
        assert_ne!(
            super::signature("whsec_test", 1764510001, r#"{"id":"1"}"#),
            super::signature("whsec_test", 1764510000, r#"{"id":"1"}"#)
        );
    }
}

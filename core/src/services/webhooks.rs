//! Signed webhooks: events of a user's projects POSTed to a URL of theirs,
//! signed with HMAC-SHA256 under a secret shown once and stored sealed.
//!
//! Delivery (at least once, in event order per webhook, with retries and a
//! lease so one node delivers a webhook at a time) is done by
//! [`crate::webhooks`].

use crate::model::{ProjectId, WebhookId};
use std::net::IpAddr;

use super::{issued, new_id, Core, Error, Principal, Resource, Result};
use crate::model::{AuditAction, Sealed, Webhook, WebhookDelivery};
use crate::StoreError;

/// The events a webhook may receive.
pub const WEBHOOK_EVENTS: &[&str] = &["project.update"];

/// The prefix of every webhook secret.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// Most webhooks per user.
const MAX_WEBHOOKS_PER_USER: usize = 20;

/// The answer to a user who has [`MAX_WEBHOOKS_PER_USER`] webhooks already.
fn limit_reached() -> Error {
    Error::invalid(
        "url",
        format!("a user may have at most {MAX_WEBHOOKS_PER_USER} webhooks; delete one first"),
    )
}

/// A webhook to create (`POST /webhooks`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewWebhook {
    /// `https://` or `http://` URL with a host.
    pub url: String,
    /// Event names; a non-empty subset of [`WEBHOOK_EVENTS`].
    pub events: Vec<String>,
    /// When set, only events of these projects (of the caller's).
    pub project_ids: Option<Vec<ProjectId>>,
}

impl NewWebhook {
    /// A webhook of `url` for `project.update` events of every project.
    pub fn new(url: impl Into<String>) -> Self {
        NewWebhook {
            url: url.into(),
            events: vec!["project.update".to_string()],
            project_ids: None,
        }
    }
    /// Receives only events of these projects.
    pub fn projects(mut self, ids: Vec<ProjectId>) -> Self {
        self.project_ids = Some(ids);
        self
    }
}

/// A created webhook with its signing secret, shown this once.
#[derive(Clone)]
#[non_exhaustive]
pub struct CreatedWebhook {
    /// The stored webhook.
    pub webhook: Webhook,
    /// `whsec_…`: the HMAC key of `X-Slipway-Signature`; only sealed stored.
    pub secret: String,
}

impl std::fmt::Debug for CreatedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhook")
            .field("webhook", &self.webhook)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The webhook operations; see [`Slipway::webhooks`](crate::Slipway::webhooks).
pub struct Webhooks<'a> {
    pub(crate) core: &'a Core,
}

fn seal_context(user_id: &str, id: &str) -> String {
    format!("webhook:{user_id}:{id}")
}

impl Core {
    /// Opens a webhook's signing secret.
    pub(crate) fn open_webhook_secret(
        &self,
        webhook: &Webhook,
    ) -> Result<crate::crypto::SecretString> {
        self.keyring
            .open(
                &seal_context(&webhook.user_id, &webhook.id),
                &webhook.secret,
            )
            .map_err(|e| Error::internal(format!("the webhook secret cannot be opened: {e}")))
    }

    fn seal_webhook_secret(&self, user_id: &str, id: &str, secret: &str) -> Sealed {
        self.keyring
            .seal(&seal_context(user_id, id), secret.as_bytes())
    }
}

/// Whether `ip` is a global unicast address (not loopback, private,
/// link-local, unspecified, shared, documentation, multicast, reserved).
pub(crate) fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_global(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0))
            // ::/96 (IPv4-compatible)
        }
    }
}

/// How many system DNS lookups for webhook URLs run at once in the process.
const MAX_LOOKUPS: usize = 16;

/// Runs `lookup` (the system resolver, which blocks) on the blocking pool,
/// at most [`MAX_LOOKUPS`] at once. A timeout around this cannot take back
/// a thread the resolver holds, so each lookup keeps its permit until its
/// thread is done: slow DNS cannot fill the pool. Waiting for a permit
/// counts in the caller's timeout.
async fn limited_lookup<F>(lookup: F) -> std::result::Result<Vec<std::net::SocketAddr>, ()>
where
    F: FnOnce() -> std::io::Result<Vec<std::net::SocketAddr>> + Send + 'static,
{
    static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_LOOKUPS);
    let permit = LOOKUPS.acquire().await.map_err(|_| ())?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        lookup()
    })
    .await
    .map_err(|_| ())?
    .map_err(|_| ())
}

/// A URL a webhook may use, resolved: its host, port and the addresses
/// checked. `Err` is a sentence for the caller.
pub(crate) async fn resolve_target(
    url: &str,
    allow_private: bool,
) -> std::result::Result<(reqwest::Url, Vec<std::net::SocketAddr>), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| "url must be an absolute http:// or https:// URL".to_string())?;
    if parsed.scheme() != "https" && parsed.scheme() != "http" {
        return Err("url must start with https:// or http://".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("url must not carry a user name or password".into());
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err("url must name a host".into()),
    };
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| "url must name a port".to_string())?;
    // Without the operator's leave to call private addresses, a name that
    // does not resolve and a name that resolves to a private address get the
    // same answer, so a member cannot probe which internal names exist.
    let refused = || {
        if allow_private {
            format!("the host {host} of url does not resolve")
        } else {
            format!(
                "the host {host} of url does not resolve to public addresses only; webhooks \
                 may only call public addresses (not loopback, private or otherwise non-public)"
            )
        }
    };
    let addrs: Vec<std::net::SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => {
            let target = (host.clone(), port);
            let lookup = limited_lookup(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&target).map(|addrs| addrs.collect())
            });
            match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
                Ok(Ok(addrs)) => addrs,
                Ok(Err(())) | Err(_) => return Err(refused()),
            }
        }
    };
    if addrs.is_empty() || (!allow_private && addrs.iter().any(|a| !is_global(a.ip()))) {
        return Err(refused());
    }
    Ok((parsed, addrs))
}

impl Webhooks<'_> {
    /// Creates a webhook of the principal (not with an API token); its
    /// secret is in the answer, this once.
    pub async fn create(&self, actor: &Principal, input: NewWebhook) -> Result<CreatedWebhook> {
        self.core.refuse_api_token(actor)?;
        let user = self.core.user_of(actor).await?;
        if input.url.len() > 2048 {
            return Err(Error::invalid("url", "url may be at most 2048 characters"));
        }
        if input.events.is_empty() {
            return Err(Error::invalid(
                "events",
                "events must name at least one event",
            ));
        }
        let mut events: Vec<String> = Vec::new();
        for name in &input.events {
            if !WEBHOOK_EVENTS.contains(&name.as_str()) {
                return Err(Error::invalid(
                    "events",
                    format!(
                        "unknown event {name:?}; the events are {}",
                        WEBHOOK_EVENTS.join(", ")
                    ),
                ));
            }
            if !events.contains(name) {
                events.push(name.clone());
            }
        }
        let project_ids = match input.project_ids {
            None => None,
            Some(ids) => Some(self.core.own_project_ids(&user.id, ids).await?),
        };
        // Checked before the URL's host is resolved (a user at the cap
        // makes no DNS lookup), and exactly by the store in the write.
        let kept = self
            .core
            .store
            .list_webhooks(&user.id)
            .await
            .map_err(|e| Error::store(Resource::Webhook, e))?
            .len();
        if kept >= MAX_WEBHOOKS_PER_USER {
            return Err(limit_reached());
        }
        let (url, _) = resolve_target(input.url.trim(), self.core.config.webhook_allow_private)
            .await
            .map_err(|m| Error::invalid("url", m))?;
        let cursor = self
            .core
            .store
            .last_event_id()
            .await
            .map_err(|e| Error::store(Resource::Event, e))?;
        let secret = crate::crypto::prefixed_secret(WEBHOOK_SECRET_PREFIX);
        let id: WebhookId = new_id();
        let webhook = Webhook {
            secret: self.core.seal_webhook_secret(&user.id, &id, &secret),
            id,
            user_id: user.id.clone(),
            url: url.to_string(),
            events,
            project_ids,
            created_at: chrono::Utc::now(),
            cursor,
        };
        let audit = self
            .core
            .audit(actor, AuditAction::WebhookCreate)
            .target("webhook", &webhook.id);
        let webhook = self
            .core
            .store
            .create_webhook(webhook, MAX_WEBHOOKS_PER_USER, &audit)
            .await
            .map_err(|e| match e {
                StoreError::Refused => limit_reached(),
                e => Error::store(Resource::Webhook, e),
            })?;
        self.core.webhooks_changed.notify_one();
        tracing::info!(user_id = %user.id, webhook_id = %webhook.id, "webhook created");
        Ok(CreatedWebhook { webhook, secret })
    }

    /// The principal's webhooks, oldest first.
    pub async fn list(&self, actor: &Principal) -> Result<Vec<Webhook>> {
        self.core.refuse_api_token(actor)?;
        let user = self.core.user_of(actor).await?;
        self.core
            .store
            .list_webhooks(&user.id)
            .await
            .map_err(|e| Error::store(Resource::Webhook, e))
    }

    /// One of the principal's webhooks.
    pub async fn get(&self, actor: &Principal, id: &WebhookId) -> Result<Webhook> {
        self.core.refuse_api_token(actor)?;
        let user = self.core.user_of(actor).await?;
        let id = issued(id, Resource::Webhook)?;
        self.core
            .store
            .get_webhook(&user.id, id)
            .await
            .map_err(|e| Error::store(Resource::Webhook, e))
    }

    /// Deletes one of the principal's webhooks: delivery stops.
    pub async fn delete(&self, actor: &Principal, id: &WebhookId) -> Result<()> {
        self.core.refuse_api_token(actor)?;
        let user = self.core.user_of(actor).await?;
        let id = issued(id, Resource::Webhook)?;
        let audit = self
            .core
            .audit(actor, AuditAction::WebhookDelete)
            .target("webhook", id);
        self.core
            .store
            .delete_webhook(&user.id, id, &audit)
            .await
            .map_err(|e| Error::store(Resource::Webhook, e))?;
        tracing::info!(user_id = %user.id, webhook_id = %id, "webhook deleted");
        Ok(())
    }

    /// The recent deliveries of one of the principal's webhooks, newest
    /// first.
    pub async fn deliveries(
        &self,
        actor: &Principal,
        id: &WebhookId,
    ) -> Result<Vec<WebhookDelivery>> {
        let webhook = self.get(actor, id).await?;
        self.core
            .store
            .list_webhook_deliveries(&webhook.id)
            .await
            .map_err(|e| Error::store(Resource::Webhook, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many lookups are asked for at once, at most MAX_LOOKUPS
    /// run on the blocking pool, and the others still finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_lookups_run_at_most_max_lookups_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut lookups = Vec::new();
        for _ in 0..3 * MAX_LOOKUPS {
            let (running, most) = (running.clone(), most.clone());
            lookups.push(tokio::spawn(limited_lookup(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(50));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(vec![std::net::SocketAddr::from(([192, 0, 2, 1], 443))])
            })));
        }
        for lookup in lookups {
            assert_eq!(lookup.await.unwrap().unwrap().len(), 1);
        }
        let most = most.load(Ordering::SeqCst);
        assert!(most <= MAX_LOOKUPS, "{most} lookups ran at once");
        assert!(most > 1, "the lookups never overlapped: {most}");
    }

    #[test]
    fn only_global_addresses_pass() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
        ] {
            assert!(!is_global(bad.parse().unwrap()), "{bad}");
        }
        for good in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_global(good.parse().unwrap()), "{good}");
        }
    }
}

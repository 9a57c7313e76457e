//! [`MemoryStore`]: everything in one process' memory, behind one mutex.
//!
//! The mutex is never held across an `.await`; every write, its uniqueness
//! checks and its event happen under one lock acquisition, so they are atomic.
//!
//! Subscribers follow the log through core's [`EventFeed`]: a write signals
//! it (a `watch` channel) **after** the state mutex is released (see
//! `StateGuard`), so waking subscribers never holds up other reads or
//! writes, and a replay reads the log a page at a time, taking the lock once
//! per page.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::watch;

use self::state::{sorted, State};

use super::{CounterHit, EventFeed, EventSignals, EventStream, FeedOptions, Store, StoreResult};
use crate::error::{StoreError, Unique};
use crate::model::{
    ApiToken, AuditEntry, AuditQuery, Authorization, Domain, Event, Invitation, Network, NewEvent,
    NewUser, Project, RoleGate, Sealed, Timestamp, User, UserUpdate, Webhook, WebhookDelivery,
};
use crate::model::{
    ApiTokenId, AuthorizationId, DomainId, InvitationId, NetworkId, ProjectId, UserId, WebhookId,
};

mod state;

fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Options of a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreOptions {
    /// How many events the log keeps for `?since=` replays.
    pub event_retention: usize,
    /// How many live events a subscriber may fall behind before it reads
    /// the log instead of the broadcast ([`FeedOptions::buffer`]).
    pub subscriber_buffer: usize,
}

impl Default for MemoryStoreOptions {
    fn default() -> Self {
        Self {
            event_retention: 10_000,
            subscriber_buffer: 1024,
        }
    }
}

/// An in-memory [`Store`]; state is lost when the process exits.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

/// A rate-limit counter: attempts of the window, how many still run, and
/// when the window started.
struct Counter {
    count: u32,
    pending: u32,
    start: std::time::Instant,
    window: std::time::Duration,
}

/// The rate-limit counters and when to sweep the expired ones.
#[derive(Default)]
struct Counters {
    map: std::collections::HashMap<String, Counter>,
    /// Sweep when the map grows past this: at least [`COUNTERS_SWEPT_ABOVE`],
    /// and twice what the last sweep left, so live counters beyond it cost
    /// each hit amortized O(1), not a scan.
    sweep_above: usize,
}

/// The fewest counters worth a sweep.
const COUNTERS_SWEPT_ABOVE: usize = 100_000;

struct Inner {
    state: Mutex<State>,
    /// Rate-limit counters: key → (count, pending, window start). Kept in
    /// this process (a memory store serves one node).
    counters: Mutex<Counters>,
    /// The newest event id, sent after each write that appended events.
    signal: watch::Sender<u64>,
    feed: EventFeed,
    options: MemoryStoreOptions,
}

/// The locked state. Dropping it releases the mutex first and then
/// publishes the events appended meanwhile, so no lock is held while
/// subscribers are woken.
struct StateGuard<'a> {
    guard: Option<MutexGuard<'a, State>>,
    inner: &'a Inner,
}

impl Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        self.guard.as_deref().expect("guard present until drop")
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_deref_mut().expect("guard present until drop")
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let appended = std::mem::take(&mut guard.appended);
        let newest = guard.last_event_id;
        drop(guard);
        if appended {
            self.inner.signal.send_replace(newest);
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store with default options.
    pub fn new() -> Self {
        Self::with_options(MemoryStoreOptions::default())
    }

    /// An empty store with the given options.
    pub fn with_options(options: MemoryStoreOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                counters: Mutex::default(),
                signal: watch::channel(0).0,
                feed: EventFeed::new(FeedOptions::default().buffer(options.subscriber_buffer)),
                options,
            }),
        }
    }

    fn lock(&self) -> StateGuard<'_> {
        // A panic while holding the lock cannot leave a half-applied write
        // (all checks run before any mutation), so poisoning is ignored.
        StateGuard {
            guard: Some(lock_ignoring_poison(&self.inner.state)),
            inner: &self.inner,
        }
    }

    /// Runs one write under the lock and records `audit` with it when it
    /// succeeds (atomically: under the same lock).
    fn write<T>(
        &self,
        audit: &AuditEntry,
        f: impl FnOnce(&mut State) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.write_if(audit, |_| true, f)
    }

    /// [`MemoryStore::write`] for writes whose success `took_effect` tells.
    fn write_if<T>(
        &self,
        audit: &AuditEntry,
        took_effect: impl FnOnce(&T) -> bool,
        f: impl FnOnce(&mut State) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut st = self.lock();
        let result = f(&mut st);
        st.audited_if(audit, result, took_effect)
    }

    /// Appends an event under the lock the caller holds.
    fn append(&self, st: &mut State, ev: NewEvent) {
        st.last_event_id += 1;
        let event = ev.with_id(st.last_event_id);
        st.events.push_back(event);
        while st.events.len() > self.inner.options.event_retention.max(1) {
            st.events.pop_front();
        }
        st.appended = true;
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn create_user(
        &self,
        user: NewUser,
        gate: RoleGate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        self.write(audit, |st| -> StoreResult<User> {
            let Some(role) = gate.decide(!st.has_users()) else {
                return Err(StoreError::Refused);
            };
            if st.user_by_email(&user.email).is_some() {
                return Err(StoreError::conflict(Unique::Email));
            }
            if let Some(gid) = user.github_id {
                if st.user_by_github_id(gid).is_some() {
                    return Err(StoreError::conflict(Unique::GitHubId));
                }
            }
            if let RoleGate::Invitation { id, .. } = gate {
                if st.invitations.remove(id.to_string().as_str()).is_none() {
                    return Err(StoreError::Refused);
                }
            }
            let user = user.into_user(role);
            st.insert_user(user.clone());
            Ok(user)
        })
    }

    async fn get_user(&self, id: &UserId) -> StoreResult<User> {
        self.lock().user(id).cloned().ok_or(StoreError::NotFound)
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        Ok(self.lock().user_by_email(email).cloned())
    }

    async fn find_user_by_github_id(&self, github_id: i64) -> StoreResult<Option<User>> {
        Ok(self.lock().user_by_github_id(github_id).cloned())
    }

    async fn link_github(
        &self,
        user_id: &UserId,
        github_id: i64,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        self.write(audit, |st| -> StoreResult<User> {
            st.set_github_id(user_id, github_id)
        })
    }

    async fn delete_user(
        &self,
        id: &UserId,
        events: Vec<NewEvent>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            if st.user(id).is_none() {
                return Err(StoreError::NotFound);
            }
            let owned = st.project_ids_of(id);
            if !super::events_name(&events, id, &owned) {
                return Err(StoreError::Stale);
            }
            st.remove_user(id)?;
            for pid in owned {
                st.remove_project(&pid);
            }
            for event in events {
                self.append(st, event);
            }
            Ok(())
        })
    }

    async fn update_user(
        &self,
        id: &UserId,
        update: UserUpdate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        self.write(audit, |st| -> StoreResult<User> {
            st.update_user(id, &update)
        })
    }

    async fn list_users(&self, after: Option<&UserId>, limit: usize) -> StoreResult<Vec<User>> {
        self.lock().list_users(after, limit)
    }

    async fn create_api_token(
        &self,
        token: ApiToken,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<ApiToken> {
        self.write(audit, |st| -> StoreResult<ApiToken> {
            if st.user(&token.user_id).is_none() {
                return Err(StoreError::NotFound);
            }
            if max_kept != usize::MAX && st.count_api_tokens(&token.user_id) >= max_kept {
                return Err(StoreError::Refused);
            }
            st.insert_api_token(token.clone())?;
            Ok(token)
        })
    }

    async fn list_api_tokens(&self, user_id: &UserId) -> StoreResult<Vec<ApiToken>> {
        Ok(self.lock().api_tokens_of(user_id))
    }

    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        Ok(self.lock().api_token_by_hash(token_hash).cloned())
    }

    async fn delete_api_token(
        &self,
        user_id: &UserId,
        id: &ApiTokenId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            match st.api_token(id) {
                Some(t) if t.user_id == user_id => {
                    st.remove_api_token(id);
                    Ok(())
                }
                _ => Err(StoreError::NotFound),
            }
        })
    }

    async fn touch_api_token(&self, id: &ApiTokenId, at: Timestamp) -> StoreResult<()> {
        if let Some(t) = self.lock().api_token_mut(id) {
            t.last_used_at = Some(at);
        }
        Ok(())
    }

    async fn create_webhook(
        &self,
        webhook: Webhook,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Webhook> {
        self.write(audit, |st| -> StoreResult<Webhook> {
            if st.user(&webhook.user_id).is_none() {
                return Err(StoreError::NotFound);
            }
            if max_kept != usize::MAX
                && st
                    .webhooks
                    .values()
                    .filter(|(_, w, _)| w.user_id == webhook.user_id)
                    .count()
                    >= max_kept
            {
                return Err(StoreError::Refused);
            }
            if st.webhooks.contains_key(&webhook.id) {
                return Err(StoreError::conflict(Unique::Id));
            }
            let seq = st.next_seq();
            st.webhooks
                .insert(webhook.id.clone(), (seq, webhook.clone(), None));
            Ok(webhook)
        })
    }

    async fn list_webhooks(&self, user_id: &UserId) -> StoreResult<Vec<Webhook>> {
        let st = self.lock();
        Ok(sorted(
            st.webhooks
                .values()
                .filter(|(_, w, _)| w.user_id == user_id)
                .map(|(seq, w, _)| (*seq, w.clone())),
        ))
    }

    async fn get_webhook(&self, user_id: &UserId, id: &WebhookId) -> StoreResult<Webhook> {
        match self.lock().webhooks.get(id) {
            Some((_, w, _)) if w.user_id == user_id => Ok(w.clone()),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn delete_webhook(
        &self,
        user_id: &UserId,
        id: &WebhookId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            match st.webhooks.get(id) {
                Some((_, w, _)) if w.user_id == user_id => {
                    st.webhooks.remove(id);
                    st.deliveries.remove(id);
                    Ok(())
                }
                _ => Err(StoreError::NotFound),
            }
        })
    }

    async fn all_webhooks(&self) -> StoreResult<Vec<Webhook>> {
        let st = self.lock();
        Ok(sorted(
            st.webhooks.values().map(|(seq, w, _)| (*seq, w.clone())),
        ))
    }

    async fn lease_webhook(
        &self,
        id: &WebhookId,
        node: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let now = chrono::Utc::now();
        let mut st = self.lock();
        let Some((_, _, lease)) = st.webhooks.get_mut(id) else {
            return Ok(false);
        };
        let free = match lease {
            None => true,
            Some((holder, at)) => holder == node || *at < now,
        };
        if free {
            *lease = Some((node.to_string(), until));
        }
        Ok(free)
    }

    async fn set_webhook_cursor(
        &self,
        id: &WebhookId,
        node: &str,
        cursor: u64,
    ) -> StoreResult<bool> {
        let mut st = self.lock();
        match st.webhooks.get_mut(id) {
            Some((_, w, Some((holder, _)))) if holder == node => {
                w.cursor = cursor;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn record_webhook_delivery(&self, delivery: WebhookDelivery) -> StoreResult<()> {
        let mut st = self.lock();
        if !st.webhooks.contains_key(&delivery.webhook_id) {
            return Ok(());
        }
        let kept = st
            .deliveries
            .entry(delivery.webhook_id.clone())
            .or_default();
        kept.insert(delivery.event_id, delivery);
        while kept.len() > super::WEBHOOK_DELIVERIES_KEPT {
            kept.pop_first();
        }
        Ok(())
    }

    async fn list_webhook_deliveries(
        &self,
        webhook_id: &WebhookId,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let st = self.lock();
        Ok(st
            .deliveries
            .get(webhook_id)
            .map(|d| d.values().rev().cloned().collect())
            .unwrap_or_default())
    }

    async fn create_invitation(
        &self,
        invitation: Invitation,
        audit: &AuditEntry,
    ) -> StoreResult<Invitation> {
        self.write(audit, |st| -> StoreResult<Invitation> {
            if st
                .invitations
                .values()
                .any(|(_, i)| i.email == invitation.email)
            {
                return Err(StoreError::conflict(Unique::InvitationEmail));
            }
            if st.invitations.contains_key(&invitation.id)
                || st
                    .invitations
                    .values()
                    .any(|(_, i)| i.token_hash == invitation.token_hash)
            {
                return Err(StoreError::conflict(Unique::Id));
            }
            let seq = st.next_seq();
            st.invitations
                .insert(invitation.id.clone(), (seq, invitation.clone()));
            Ok(invitation)
        })
    }

    async fn list_invitations(&self) -> StoreResult<Vec<Invitation>> {
        let st = self.lock();
        Ok(sorted(st.invitations.values().cloned()))
    }

    async fn find_invitation(&self, token_hash: &str) -> StoreResult<Option<Invitation>> {
        let st = self.lock();
        Ok(st
            .invitations
            .values()
            .find(|(_, i)| i.token_hash == token_hash)
            .map(|(_, i)| i.clone()))
    }

    async fn delete_invitation(&self, id: &InvitationId, audit: &AuditEntry) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            st.invitations
                .remove(id)
                .map(|_| ())
                .ok_or(StoreError::NotFound)
        })
    }

    async fn create_authorization(
        &self,
        auth: Authorization,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        self.write(audit, |st| -> StoreResult<Authorization> {
            if st.user(&auth.user_id).is_none() {
                return Err(StoreError::NotFound);
            }
            if max_kept != usize::MAX
                && st
                    .auths
                    .values()
                    .filter(|(_, a)| a.user_id == auth.user_id)
                    .count()
                    >= max_kept
            {
                return Err(StoreError::Refused);
            }
            let seq = st.next_seq();
            st.auths.insert(auth.id.clone(), (seq, auth.clone()));
            Ok(auth)
        })
    }

    async fn upsert_authorization(
        &self,
        auth: Authorization,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        self.write(audit, |st| -> StoreResult<Authorization> {
            if st.user(&auth.user_id).is_none() {
                return Err(StoreError::NotFound);
            }
            // The oldest match, as the other stores pick it.
            if let Some((_, existing)) = st
                .auths
                .values_mut()
                .filter(|(_, a)| {
                    a.user_id == auth.user_id && a.kind == auth.kind && a.name == auth.name
                })
                .min_by_key(|(seq, _)| *seq)
            {
                existing.secret = auth.secret;
                existing.info = auth.info;
                return Ok(existing.clone());
            }
            let seq = st.next_seq();
            st.auths.insert(auth.id.clone(), (seq, auth.clone()));
            Ok(auth)
        })
    }

    async fn all_authorizations(&self) -> StoreResult<Vec<Authorization>> {
        Ok(sorted(self.lock().auths.values().cloned()))
    }

    async fn reseal_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        old: &Sealed,
        new: Sealed,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        self.write_if(
            audit,
            |done| *done,
            |st| -> StoreResult<bool> {
                match st.auths.get_mut(id) {
                    Some((_, a)) if a.user_id == user_id && a.secret == *old => {
                        a.secret = new;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            },
        )
    }

    async fn list_authorizations(&self, user_id: &UserId) -> StoreResult<Vec<Authorization>> {
        let st = self.lock();
        Ok(sorted(
            st.auths
                .values()
                .filter(|(_, a)| a.user_id == user_id)
                .cloned(),
        ))
    }

    async fn get_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
    ) -> StoreResult<Authorization> {
        let st = self.lock();
        match st.auths.get(id) {
            Some((_, a)) if a.user_id == user_id => Ok(a.clone()),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn delete_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            match st.auths.get(id) {
                Some((_, a)) if a.user_id == user_id => {
                    st.auths.remove(id);
                    Ok(())
                }
                _ => Err(StoreError::NotFound),
            }
        })
    }

    async fn create_project(
        &self,
        project: Project,
        max_owned: usize,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<Project> {
        self.write(audit, |st| -> StoreResult<Project> {
            if st.user(&project.owner_id).is_none() {
                return Err(StoreError::NotFound);
            }
            if st.count_projects(&project.owner_id) >= max_owned {
                return Err(StoreError::Refused);
            }
            st.check_project_unique(None, &project)?;
            st.put_project(project.clone());
            self.append(st, event);
            Ok(project)
        })
    }

    async fn list_projects(&self, owner_id: &UserId) -> StoreResult<Vec<Project>> {
        Ok(self.lock().projects_of(owner_id))
    }

    async fn count_projects(&self, owner_id: &UserId) -> StoreResult<usize> {
        Ok(self.lock().count_projects(owner_id))
    }

    async fn get_project(&self, owner_id: &UserId, id: &ProjectId) -> StoreResult<Project> {
        let st = self.lock();
        let p = st.owned_project(owner_id, id)?;
        Ok(st.project_with_networks(p))
    }

    async fn update_project(
        &self,
        before: &Project,
        after: &Project,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            let mut p = st.unchanged(before)?;
            st.check_project_unique(Some(&before.id), after)?;
            // Only the fields an update may change (networks are kept apart).
            p.name.clone_from(&after.name);
            p.description.clone_from(&after.description);
            p.path.clone_from(&after.path);
            p.source_id.clone_from(&after.source_id);
            p.vm_id.clone_from(&after.vm_id);
            p.updated_at = after.updated_at;
            st.put_project(p);
            self.append(st, event);
            Ok(())
        })
    }

    async fn delete_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            st.owned_project(owner_id, id)?;
            st.remove_project(id);
            self.append(st, event);
            Ok(())
        })
    }

    async fn create_network(
        &self,
        before: &Project,
        network: Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            st.unchanged(before)?;
            st.check_network_domain(None, &network.domain, &network.domain_id)?;
            st.put_network(network);
            self.append(st, event);
            Ok(())
        })
    }

    async fn list_networks(
        &self,
        owner_id: &UserId,
        project_id: Option<&ProjectId>,
    ) -> StoreResult<Vec<Network>> {
        Ok(self.lock().networks_of(owner_id, project_id))
    }

    async fn get_network(&self, owner_id: &UserId, id: &NetworkId) -> StoreResult<Network> {
        let st = self.lock();
        st.owned_network(owner_id, id).cloned()
    }

    async fn update_network(
        &self,
        before: &Project,
        after: &Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            st.unchanged(before)?;
            let mut n = st.network_of(before, &after.id)?.clone();
            if n.domain != after.domain || n.domain_id != after.domain_id {
                st.check_network_domain(Some(&after.id), &after.domain, &after.domain_id)?;
            }
            n.domain.clone_from(&after.domain);
            n.domain_id = after.domain_id.clone();
            n.port = after.port;
            st.put_network(n);
            self.append(st, event);
            Ok(())
        })
    }

    async fn delete_network(
        &self,
        before: &Project,
        id: &NetworkId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            st.unchanged(before)?;
            st.network_of(before, id)?;
            st.remove_network(id);
            self.append(st, event);
            Ok(())
        })
    }

    async fn create_domain(&self, domain: Domain, audit: &AuditEntry) -> StoreResult<Domain> {
        self.write(audit, |st| -> StoreResult<Domain> {
            if st.domains.values().any(|(_, d)| d.domain == domain.domain) {
                return Err(StoreError::conflict(Unique::DomainName));
            }
            if domain.main && st.domains.values().any(|(_, d)| d.main) {
                return Err(StoreError::conflict(Unique::MainDomain));
            }
            let seq = st.next_seq();
            st.domains.insert(domain.id.clone(), (seq, domain.clone()));
            Ok(domain)
        })
    }

    async fn list_domains(&self) -> StoreResult<Vec<Domain>> {
        let st = self.lock();
        Ok(sorted(st.domains.values().cloned()))
    }

    async fn get_domain(&self, id: &DomainId) -> StoreResult<Domain> {
        let st = self.lock();
        st.domains
            .get(id)
            .map(|(_, d)| d.clone())
            .ok_or(StoreError::NotFound)
    }

    async fn set_domain_linked(
        &self,
        id: &DomainId,
        linked: bool,
        audit: &AuditEntry,
    ) -> StoreResult<Domain> {
        self.write(audit, |st| -> StoreResult<Domain> {
            let (_, d) = st.domains.get_mut(id).ok_or(StoreError::NotFound)?;
            d.linked = linked;
            Ok(d.clone())
        })
    }

    async fn delete_domain(&self, id: &DomainId, audit: &AuditEntry) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            if !st.domains.contains_key(id) {
                return Err(StoreError::NotFound);
            }
            if st.domain_in_use(id) {
                return Err(StoreError::InUse);
            }
            st.domains.remove(id);
            Ok(())
        })
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<serde_json::Value>> {
        Ok(self.lock().settings.get(key).cloned())
    }

    async fn put_setting(
        &self,
        key: &str,
        value: serde_json::Value,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.write(audit, |st| -> StoreResult<()> {
            st.settings.insert(key.to_string(), value);
            Ok(())
        })
    }

    async fn hit_counter(
        &self,
        key: &str,
        window: std::time::Duration,
        limit: u32,
    ) -> StoreResult<CounterHit> {
        if limit == 0 {
            return Ok(CounterHit::Limited(window));
        }
        let now = std::time::Instant::now();
        let mut counters = lock_ignoring_poison(&self.inner.counters);
        if counters.map.len() > counters.sweep_above.max(COUNTERS_SWEPT_ABOVE) {
            counters
                .map
                .retain(|_, c| now.duration_since(c.start) < c.window);
            counters.sweep_above = counters.map.len().saturating_mul(2);
        }
        let c = counters.map.entry(key.to_string()).or_insert(Counter {
            count: 0,
            pending: 0,
            start: now,
            window,
        });
        let elapsed = now.duration_since(c.start);
        if elapsed >= c.window {
            *c = Counter {
                count: 0,
                pending: 0,
                start: now,
                window,
            };
        }
        if c.count < limit {
            c.count += 1;
            c.pending += 1;
            Ok(CounterHit::Counted)
        } else if c.pending > 0 {
            Ok(CounterHit::Pending)
        } else {
            Ok(CounterHit::Limited(c.window.saturating_sub(elapsed)))
        }
    }

    async fn settle_counter(&self, key: &str, keep: bool) -> StoreResult<()> {
        let now = std::time::Instant::now();
        let mut counters = lock_ignoring_poison(&self.inner.counters);
        if let Some(c) = counters.map.get_mut(key) {
            if now.duration_since(c.start) < c.window {
                c.pending = c.pending.saturating_sub(1);
                if !keep {
                    c.count = c.count.saturating_sub(1);
                }
            }
        }
        Ok(())
    }

    async fn has_users(&self) -> StoreResult<bool> {
        Ok(self.lock().has_users())
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.lock().audit.insert(entry.id.clone(), entry.clone());
        Ok(())
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let st = self.lock();
        let newer_than_cursor = match &query.before {
            Some(before) => st.audit.range::<String, _>(..before.clone()),
            None => st.audit.range::<String, _>(..),
        };
        Ok(newer_than_cursor
            .rev()
            .map(|(_, e)| e)
            .filter(|e| query.matches(e))
            .take(query.limit)
            .cloned()
            .collect())
    }

    async fn purge_audit(&self, before: Timestamp) -> StoreResult<u64> {
        let mut st = self.lock();
        let was = st.audit.len();
        st.audit.retain(|_, e| e.at >= before);
        Ok((was - st.audit.len()) as u64)
    }

    async fn last_event_id(&self) -> StoreResult<u64> {
        Ok(self.lock().last_event_id)
    }

    async fn read_events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let st = self.lock();
        let Some(oldest) = st.events.front().map(|e| e.id) else {
            return Ok(Vec::new());
        };
        // Ids are dense: the event after `after` sits at a known index.
        let skip = usize::try_from((after + 1).saturating_sub(oldest)).unwrap_or(usize::MAX);
        Ok(st.events.iter().skip(skip).take(limit).cloned().collect())
    }

    async fn event_signals(&self) -> StoreResult<EventSignals> {
        let rx = self.inner.signal.subscribe();
        Ok(tokio_stream::wrappers::WatchStream::from_changes(rx)
            .map(|_| ())
            .boxed())
    }

    async fn events(&self, since: Option<u64>) -> StoreResult<EventStream> {
        self.inner
            .feed
            .subscribe(Arc::new(self.clone()), since)
            .await
    }

    async fn stop_idle_tasks(&self) {
        self.inner.feed.stop_if_idle().await;
    }
}

#[cfg(all(test, feature = "testing"))]
mod conformance {
    use std::sync::Arc;

    use super::{MemoryStore, MemoryStoreOptions};
    use crate::store::Store;

    async fn setup() -> Option<Arc<dyn Store>> {
        Some(Arc::new(MemoryStore::with_options(MemoryStoreOptions {
            event_retention: 100,
            ..Default::default()
        })))
    }

    crate::store_conformance!(setup);
    // Counted under the store's lock: the quotas are exact.
    crate::store_exact_quota_conformance!(setup);
}

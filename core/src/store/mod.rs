//! The storage abstraction: one object-safe async trait, [`Store`].
//!
//! Every project-affecting write appends the [`NewEvent`] describing it
//! to the event log **in the same atomic step** as the change: when the write
//! fails, no event exists; when it succeeds, the event has an id greater than
//! every earlier one.
//!
//! The project and network writes (`create_project`, `update_project`,
//! `delete_project`, `create_network`, `update_network`, `delete_network`)
//! and `delete_user` are narrow: core computes the new record and builds its
//! events, the store only persists them atomically (with a compare-and-swap
//! on what core read for every write that changes existing records) and
//! enforces the uniqueness rules. No store builds an event.
//!
//! Ownership is part of every user-scoped query: asking for another user's
//! project, network or authorization answers [`StoreError::NotFound`].

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::error::StoreError;
use crate::model::{
    ApiToken, ApiTokenId, AuditEntry, AuditQuery, Authorization, AuthorizationId, Domain, DomainId,
    Event, FeedItem, Invitation, InvitationId, Network, NetworkId, NewEvent, NewUser, Project,
    ProjectId, RoleGate, Sealed, Timestamp, User, UserId, UserUpdate, Webhook, WebhookDelivery,
    WebhookId,
};

mod feed;
mod metered;
pub(crate) use metered::Metered;
#[cfg(feature = "memory")]
mod memory;
pub(crate) use feed::end_task;
pub use feed::{EventFeed, FeedOptions};
#[cfg(feature = "memory")]
pub use memory::{MemoryStore, MemoryStoreOptions};

/// A stream of the event log: first the events after `since`, then live ones.
pub type EventStream = BoxStream<'static, Result<FeedItem, StoreError>>;

/// Wake-ups of the event log: an item whenever events may have been appended
/// (by this process or any other sharing the backend). Lossy and coalescing
/// is fine; the stream ends when its source fails (it is then asked for
/// again).
pub type EventSignals = BoxStream<'static, ()>;

/// Result alias for store methods.
pub type StoreResult<T> = Result<T, StoreError>;

/// How many deliveries a webhook keeps ([`Store::record_webhook_delivery`]).
pub const WEBHOOK_DELIVERIES_KEPT: usize = 50;

/// Persistent state of a Slipway instance.
///
/// Implementations: [`MemoryStore`] (feature `memory`), `slipway_postgres::PgStore`,
/// `slipway_redis::RedisStore`. All of them pass the conformance suite in
/// `slipway_core::testing` (feature `testing`).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the backend answers (used by `GET /health`).
    async fn ping(&self) -> StoreResult<()>;

    /// Checks that the store can serve: the backend answers and its schema
    /// holds every migration this build knows (used by `GET /health/ready`
    /// and by servers that do not migrate on start). A schema that is not
    /// migrated answers [`StoreError::Unavailable`] saying so. The default
    /// is [`Store::ping`], for stores without a schema.
    async fn ready(&self) -> StoreResult<()> {
        self.ping().await
    }

    // ---- users -------------------------------------------------------------

    /// Creates a user with the role `gate` decides, atomically with the
    /// insert ([`RoleGate::decide`], given whether the instance has no user
    /// yet).
    ///
    /// When the gate refuses ([`RoleGate::FirstUserOnly`] with users
    /// present), nothing is written and the answer is
    /// [`StoreError::Refused`]. A duplicate email answers
    /// `Conflict(Unique::Email)`, a duplicate GitHub id
    /// `Conflict(Unique::GitHubId)`.
    async fn create_user(
        &self,
        user: NewUser,
        gate: RoleGate,
        audit: &AuditEntry,
    ) -> StoreResult<User>;

    /// Reads a user by id.
    async fn get_user(&self, id: &UserId) -> StoreResult<User>;

    /// Finds a user by (lowercased) email.
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;

    /// Finds a user by linked GitHub account id.
    async fn find_user_by_github_id(&self, github_id: i64) -> StoreResult<Option<User>>;

    /// Links a GitHub account to a user (`Conflict(Unique::GitHubId)` when
    /// another user has it).
    async fn link_github(
        &self,
        user_id: &UserId,
        github_id: i64,
        audit: &AuditEntry,
    ) -> StoreResult<User>;

    /// Deletes a user with everything they own (authorizations, API tokens,
    /// webhooks, projects and their networks) and appends `events`, core's
    /// DELETE event of each of the user's projects ([`NewEvent::deleted`](crate::model::NewEvent::deleted)),
    /// oldest project first, atomically. A compare-and-swap on the user's
    /// projects: core built `events` from the projects it read, so when they
    /// are not exactly the user's projects now (by `project_id`, in order: one
    /// was created or deleted since) the answer is [`StoreError::Stale`] and
    /// nothing is written. `NotFound` when the user does not exist; `Refused`
    /// (nothing written) when the user is the last active admin
    /// ([`User::is_active_admin`]) and other users exist: users are never
    /// left without an admin, but the instance's only user may go.
    async fn delete_user(
        &self,
        id: &UserId,
        events: Vec<NewEvent>,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    /// Applies `update` ([`UserUpdate::apply`]) to a user atomically and
    /// returns the result. `Conflict(Unique::Email)` when the new email is
    /// taken; `Refused` (nothing written) when the change takes away the last
    /// active admin ([`UserUpdate::removes_admin`]).
    async fn update_user(
        &self,
        id: &UserId,
        update: UserUpdate,
        audit: &AuditEntry,
    ) -> StoreResult<User>;

    /// Up to `limit` users in creation order, after the user with id `after`
    /// (from the start when `None`; `NotFound` when that user does not
    /// exist).
    async fn list_users(&self, after: Option<&UserId>, limit: usize) -> StoreResult<Vec<User>>;

    // ---- API tokens --------------------------------------------------------

    /// Stores an API token of an existing user while the user has fewer
    /// than `max_kept` API tokens: `Refused` (nothing written) otherwise,
    /// `NotFound` when the user is gone, `Conflict(Unique::Id)` on an id or
    /// hash clash. The count is made in the write and is exact under
    /// concurrent creates on every store (the memory store's lock, SQLite's
    /// one writer, a Redis script; PgStore locks the user's row first:
    /// tokens are created rarely). `usize::MAX` is no quota. Deleting the
    /// user deletes their tokens.
    async fn create_api_token(
        &self,
        token: ApiToken,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<ApiToken>;

    /// The user's API tokens, oldest first.
    async fn list_api_tokens(&self, user_id: &UserId) -> StoreResult<Vec<ApiToken>>;

    /// The API token whose secret hashes to `token_hash`, if any.
    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;

    /// Deletes one of the user's API tokens (`NotFound` otherwise).
    async fn delete_api_token(
        &self,
        user_id: &UserId,
        id: &ApiTokenId,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    /// Records that a token was used at `at` (no error when it is gone).
    async fn touch_api_token(&self, id: &ApiTokenId, at: Timestamp) -> StoreResult<()>;

    // ---- webhooks ----------------------------------------------------------

    /// Stores a webhook of an existing user while the user has fewer than
    /// `max_kept` webhooks: `Refused` (nothing written) otherwise,
    /// `NotFound` when the user is gone, `Conflict(Unique::Id)` on an id
    /// clash. The count is made in the write and is exact under concurrent
    /// creates on every store (the memory store's lock, SQLite's one
    /// writer, a Redis script; PgStore locks the user's row first: webhooks
    /// are created rarely). `usize::MAX` is no quota. Deleting the user
    /// deletes their webhooks and deliveries.
    async fn create_webhook(
        &self,
        webhook: Webhook,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Webhook>;

    /// The user's webhooks, oldest first.
    async fn list_webhooks(&self, user_id: &UserId) -> StoreResult<Vec<Webhook>>;

    /// One of the user's webhooks (`NotFound` otherwise).
    async fn get_webhook(&self, user_id: &UserId, id: &WebhookId) -> StoreResult<Webhook>;

    /// Deletes one of the user's webhooks with its deliveries (`NotFound`
    /// otherwise).
    async fn delete_webhook(
        &self,
        user_id: &UserId,
        id: &WebhookId,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    /// Every webhook of every user, oldest first (for the delivery worker).
    async fn all_webhooks(&self) -> StoreResult<Vec<Webhook>>;

    /// Takes or renews the delivery lease of a webhook for `node` until
    /// `until`, atomically: `true` when it was free, expired (its `until`
    /// is in the past) or already held by `node`; `false` (nothing written)
    /// when another node holds it, or the webhook is gone.
    async fn lease_webhook(
        &self,
        id: &WebhookId,
        node: &str,
        until: Timestamp,
    ) -> StoreResult<bool>;

    /// Sets a webhook's cursor (the last event delivered or given up on),
    /// only while `node` holds its lease: `false` (nothing written)
    /// otherwise, or when the webhook is gone.
    async fn set_webhook_cursor(
        &self,
        id: &WebhookId,
        node: &str,
        cursor: u64,
    ) -> StoreResult<bool>;

    /// Records (inserts or replaces, by webhook and event id) a delivery;
    /// only the newest 50 deliveries (by event id) of a webhook are kept. Does
    /// nothing when the webhook is gone.
    async fn record_webhook_delivery(&self, delivery: WebhookDelivery) -> StoreResult<()>;

    /// The webhook's kept deliveries, newest (highest event id) first.
    async fn list_webhook_deliveries(
        &self,
        webhook_id: &WebhookId,
    ) -> StoreResult<Vec<WebhookDelivery>>;

    // ---- invitations -------------------------------------------------------

    /// Stores an invitation. `Conflict(Unique::Email)` when one for the same
    /// email is pending.
    async fn create_invitation(
        &self,
        invitation: Invitation,
        audit: &AuditEntry,
    ) -> StoreResult<Invitation>;

    /// Pending invitations, oldest first.
    async fn list_invitations(&self) -> StoreResult<Vec<Invitation>>;

    /// The invitation whose token hashes to `token_hash`, if any.
    async fn find_invitation(&self, token_hash: &str) -> StoreResult<Option<Invitation>>;

    /// Deletes an invitation (`NotFound` when there is none with this id).
    async fn delete_invitation(&self, id: &InvitationId, audit: &AuditEntry) -> StoreResult<()>;

    // ---- authorizations ----------------------------------------------------

    /// Stores a new authorization while its user keeps fewer than
    /// `max_kept` authorizations: `Refused` (nothing written) otherwise,
    /// `NotFound` when the user does not exist. The count is made in the
    /// write, as [`Store::create_project`]'s, and holds under concurrent
    /// creates (the memory store, SQLite and Redis serialize their writes;
    /// PgStore locks the user's row first). `usize::MAX` is no quota.
    async fn create_authorization(
        &self,
        auth: Authorization,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization>;

    /// Inserts `auth`, or, when the user already has an authorization of the
    /// same kind and name, replaces its secret and info (keeping its id and
    /// creation time). Returns the stored record.
    async fn upsert_authorization(
        &self,
        auth: Authorization,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization>;

    /// The user's authorizations, oldest first.
    async fn list_authorizations(&self, user_id: &UserId) -> StoreResult<Vec<Authorization>>;

    /// One of the user's authorizations.
    async fn get_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
    ) -> StoreResult<Authorization>;

    /// Deletes one of the user's authorizations.
    async fn delete_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    /// Every user's authorizations (for instance-wide passes such as
    /// re-sealing the secrets under a new instance key).
    async fn all_authorizations(&self) -> StoreResult<Vec<Authorization>>;

    /// Replaces the sealed secret of the user's authorization `id` with
    /// `new`, only while it still holds `old` (compare and set): `false`
    /// when it changed or was deleted meanwhile (nothing is written then).
    async fn reseal_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        old: &Sealed,
        new: Sealed,
        audit: &AuditEntry,
    ) -> StoreResult<bool>;

    // ---- projects ----------------------------------------------------------

    /// Creates `project` (its `networks` are empty) and appends `event`
    /// atomically, while its owner owns fewer than `max_owned` projects.
    /// Core builds both records and decides the quota: the store only
    /// writes them (the event is [`NewEvent::for_project`] with
    /// [`EventKind::Create`]) and counts the owner's projects in the write.
    /// Concurrent creates of one owner must never pass the quota together
    /// ([`store_exact_quota_conformance!`](crate::store_exact_quota_conformance)
    /// checks it). Where writes are serialized (the memory store's lock,
    /// SQLite's one writer, a Redis script) the count and the insert are one
    /// step; PgStore gives each project a slot below the quota, unique per
    /// owner, so one owner's creates need not wait for each other. Errors: `NotFound` when the owner does not exist;
    /// `Refused` when the owner owns `max_owned` projects or more (nothing
    /// is written); conflicts `Unique::SourceId`, `Unique::VmId`,
    /// `Unique::ProjectPath`. `usize::MAX` is no quota (nothing counted).
    /// Returns the stored project (the one given: core gives timestamps at
    /// the precision stores keep, [`store_now`](crate::model::store_now)).
    ///
    /// [`EventKind::Create`]: crate::model::EventKind::Create
    async fn create_project(
        &self,
        project: Project,
        max_owned: usize,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<Project>;

    /// The owner's projects, oldest first, each with its networks.
    async fn list_projects(&self, owner_id: &UserId) -> StoreResult<Vec<Project>>;

    /// How many projects the owner has (one cheap read, not a listing).
    async fn count_projects(&self, owner_id: &UserId) -> StoreResult<usize>;

    /// One of the owner's projects, with its networks.
    async fn get_project(&self, owner_id: &UserId, id: &ProjectId) -> StoreResult<Project>;

    /// Replaces the project `before` (as [`Store::get_project`] gave it) with
    /// `after`, which core computed from it ([`ProjectPatch::apply`]), and
    /// appends `event` (built by core from `after`), atomically — as a
    /// compare-and-swap:
    ///
    /// - `NotFound` (nothing written) when `before.owner_id` has no project
    ///   `before.id` (another user's project is not found);
    /// - [`StoreError::Stale`] (nothing written: no change, no event, no
    ///   audit entry) when the stored project no longer holds `before`'s
    ///   state ([`Project::same_state`]: owner, name, description, path,
    ///   sourceId, vmId **and its networks**). The caller reads again and
    ///   recomputes;
    /// - `Conflict` (nothing written) when `after` takes a `sourceId`, `vmId`
    ///   or `path` another project holds;
    /// - else the store writes `after`'s fields (name, description, path,
    ///   sourceId, vmId, updatedAt; never its id, owner, creation time or
    ///   networks), `event` and `audit`, in one atomic step.
    ///
    /// Why the networks are part of the comparison: `event` carries the
    /// project with its networks (the WebSocket and webhook payload), and
    /// core took them from `before`. A network written between core's read
    /// and this write makes the write stale, so an event never carries
    /// networks older than the project it announces, and the store never has
    /// to rebuild (or even read) the event.
    ///
    /// [`ProjectPatch::apply`]: crate::model::ProjectPatch::apply
    /// [`Project::same_state`]: crate::model::Project::same_state
    async fn update_project(
        &self,
        before: &Project,
        after: &Project,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    /// Deletes one of the owner's projects with its networks and appends
    /// `event` (built by core: [`NewEvent::deleted`]), atomically. `NotFound`
    /// (nothing written) when the owner has no such project.
    async fn delete_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    // ---- network connections ----------------------------------------------

    /// Adds `network` to the project `before` (as [`Store::get_project`]
    /// gave it; `network.project_id` is `before.id`) and appends `event`
    /// (core built it from `before` with `network` last among its networks),
    /// atomically, as a compare-and-swap on the project like
    /// [`Store::update_project`]:
    ///
    /// - `NotFound` when `before.owner_id` has no project `before.id`;
    /// - [`StoreError::Stale`] (nothing written) when the stored project no
    ///   longer holds `before`'s state ([`Project::same_state`](crate::model::Project::same_state));
    /// - `Conflict(Unique::NetworkHostname)` when the hostname is taken or the covering
    ///   registered domain `network.domain_id` no longer exists;
    /// - else the network, `event` and `audit` are written in one step.
    async fn create_network(
        &self,
        before: &Project,
        network: Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    /// The owner's network connections, optionally of one project, oldest first.
    async fn list_networks(
        &self,
        owner_id: &UserId,
        project_id: Option<&ProjectId>,
    ) -> StoreResult<Vec<Network>>;

    /// One of the owner's network connections.
    async fn get_network(&self, owner_id: &UserId, id: &NetworkId) -> StoreResult<Network>;

    /// Replaces one network of the project `before` with `after` (same id;
    /// core applied the [`NetworkPatch`](crate::model::NetworkPatch) to it:
    /// only its hostname, covering domain and port change) and appends `event`
    /// (core built it from `before` with the network replaced), atomically, as
    /// a compare-and-swap on the project: `NotFound` when the project is not
    /// the owner's or `before` has no network `after.id`, `Stale` when the
    /// project changed since `before` was read, `Conflict(Unique::NetworkHostname)` as for
    /// [`Store::create_network`].
    async fn update_network(
        &self,
        before: &Project,
        after: &Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    /// Deletes the network `id` of the project `before` and appends `event`
    /// (core built it from `before` without that network), atomically, as a
    /// compare-and-swap on the project: `NotFound` when the project is not
    /// the owner's or `before` has no network `id`, `Stale` when the project
    /// changed since `before` was read.
    async fn delete_network(
        &self,
        before: &Project,
        id: &NetworkId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    // ---- domains -----------------------------------------------------------

    /// Registers a domain. `Conflict(Unique::DomainName)` when the name is
    /// taken, `Conflict(Unique::MainDomain)` when it is a main domain and
    /// one exists already.
    async fn create_domain(&self, domain: Domain, audit: &AuditEntry) -> StoreResult<Domain>;

    /// All domains, oldest first.
    async fn list_domains(&self) -> StoreResult<Vec<Domain>>;

    /// One domain.
    async fn get_domain(&self, id: &DomainId) -> StoreResult<Domain>;

    /// Sets the `linked` flag of a domain.
    async fn set_domain_linked(
        &self,
        id: &DomainId,
        linked: bool,
        audit: &AuditEntry,
    ) -> StoreResult<Domain>;

    /// Deletes a domain; [`StoreError::InUse`] (nothing written) while
    /// network connections use it.
    async fn delete_domain(&self, id: &DomainId, audit: &AuditEntry) -> StoreResult<()>;

    // ---- configuration -----------------------------------------------------

    /// Reads an instance setting (a JSON document) by key.
    async fn get_setting(&self, key: &str) -> StoreResult<Option<serde_json::Value>>;

    /// Writes (replaces) an instance setting.
    async fn put_setting(
        &self,
        key: &str,
        value: serde_json::Value,
        audit: &AuditEntry,
    ) -> StoreResult<()>;

    // ---- rate-limit counters ------------------------------------------------

    /// Starts one attempt against the counter `key`, atomically. A counter
    /// holds the attempts of its current window (`count`) and how many of
    /// them are still running (`pending`). When `count < limit` both go up
    /// by one and the attempt may go ahead ([`CounterHit::Counted`]); it
    /// must end with [`Store::settle_counter`]. At the limit nothing
    /// changes: [`CounterHit::Pending`] while counted attempts are still
    /// running (their outcome may give a place back: ask again shortly),
    /// else [`CounterHit::Limited`] with the time left in the window. A
    /// window starts with the first attempt after the previous one ended
    /// and lasts `window`. A `limit` of 0 refuses at once
    /// ([`CounterHit::Limited`] with the whole window), whatever the
    /// counter holds.
    ///
    /// Every node sharing the backend shares the counters (PostgreSQL,
    /// Redis, SQLite); concurrent hits never count more than `limit`. Keys
    /// are short opaque strings chosen by core.
    async fn hit_counter(
        &self,
        key: &str,
        window: std::time::Duration,
        limit: u32,
    ) -> StoreResult<CounterHit>;

    /// Ends an attempt counted by [`Store::hit_counter`]: `pending` goes
    /// down by one, and so does `count` unless `keep` (a failed sign-in
    /// stays counted; a successful one, or one that never ran, is given
    /// back). Does nothing when the window has ended.
    async fn settle_counter(&self, key: &str, keep: bool) -> StoreResult<()>;

    /// One attempt against several counters (a sign-in counts against its
    /// email and address, its email, and its address), all or nothing:
    /// `Ok(None)` when every counter counted it (each must be settled);
    /// otherwise no counter keeps it and the answer is the first counter, by
    /// index, that did not count it, with its [`CounterHit`].
    ///
    /// The default asks [`Store::hit_counter`] for each in turn and gives
    /// back the counts it took when one refuses (so for a moment they were
    /// counted). A store may override it to do the same in one statement
    /// or transaction; each counter must keep [`Store::hit_counter`]'s
    /// guarantee.
    async fn hit_counters(
        &self,
        counters: &[CounterLimit<'_>],
    ) -> StoreResult<Option<(usize, CounterHit)>> {
        for (i, c) in counters.iter().enumerate() {
            let hit = self.hit_counter(c.key, c.window, c.limit).await;
            if matches!(hit, Ok(CounterHit::Counted)) {
                continue;
            }
            for taken in &counters[..i] {
                if let Err(e) = self.settle_counter(taken.key, false).await {
                    tracing::warn!(error = %e, "a rate-limit count could not be given back");
                }
            }
            return hit.map(|hit| Some((i, hit)));
        }
        Ok(None)
    }

    /// [`Store::settle_counter`] for each of `keys` (the counters of one
    /// attempt); every key is settled even when one fails, and the first
    /// error is returned. A store may override it to do it in one
    /// statement.
    async fn settle_counters(&self, keys: &[&str], keep: bool) -> StoreResult<()> {
        let mut failed = None;
        for key in keys {
            if let Err(e) = self.settle_counter(key, keep).await {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Settles an attempt's counters ([`Store::settle_counters`]) and appends
    /// the audit entry of its outcome ([`Store::append_audit`]): the last two
    /// writes of a sign-in. Both are done even when one fails; the first
    /// error is returned. A store may override it to do both in one
    /// statement (PostgreSQL does: one round trip and one commit fewer per
    /// sign-in).
    async fn settle_counters_and_audit(
        &self,
        keys: &[&str],
        keep: bool,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        let settled = self.settle_counters(keys, keep).await;
        let audited = self.append_audit(entry).await;
        settled.and(audited)
    }

    /// Whether the instance has at least one user (a cheap check, so a
    /// refused sign-up costs no password hash).
    async fn has_users(&self) -> StoreResult<bool>;

    // ---- audit log ---------------------------------------------------------

    /// Appends an entry that records no change of state (a sign-in, a failed
    /// password check). Entry ids are unique (64 random bits after the
    /// time): what a store does with an id it already holds is unspecified. Entries of changes are written by the change's own
    /// method, in the same atomic step: every write method takes its
    /// `audit` entry and stores it exactly when the write takes effect.
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()>;

    /// Up to `query.limit` entries matching `query`, newest (greatest id)
    /// first.
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;

    /// Deletes the entries older than `before`; answers how many went.
    async fn purge_audit(&self, before: Timestamp) -> StoreResult<u64>;

    // ---- event log ---------------------------------------------------------

    /// The id of the newest event (0 when the log is empty).
    async fn last_event_id(&self) -> StoreResult<u64>;

    /// Up to `limit` retained events with ids greater than `after`, in id
    /// order. Ids are dense: a write that fails gives its id back.
    async fn read_events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>>;

    /// Wake-ups of the log ([`EventSignals`]).
    async fn event_signals(&self) -> StoreResult<EventSignals>;

    /// The event log after `since` (exclusive), then live events as they are
    /// written — by this process or any other sharing the backend — in id
    /// order, with no gap and no duplicate; [`FeedItem::Resync`] when events
    /// were lost (`since` older than the retained log, or past its end).
    /// `None` means "from now on".
    ///
    /// Implement it with the store's [`EventFeed`]:
    /// `self.feed.subscribe(Arc::new(self.clone()), since).await`, so every
    /// store follows its log the same way.
    async fn events(&self, since: Option<u64>) -> StoreResult<EventStream>;

    /// Stops the store's background tasks that nothing uses any more (the
    /// [`EventFeed`]'s tail once no stream follows it) and returns when they
    /// have ended, so none of them holds the store: dropping the last handle
    /// then frees it at once (an embedded store's file lock included).
    /// A later [`Store::events`] starts the tail again.
    ///
    /// [`Slipway::shutdown`](crate::Slipway::shutdown) calls it. Implement it
    /// with `self.feed.stop_if_idle().await`; the default, for a store with
    /// no background task, does nothing.
    async fn stop_idle_tasks(&self) {}
}

/// One counter of [`Store::hit_counters`]: its key, window and limit, as
/// [`Store::hit_counter`] takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterLimit<'a> {
    /// The counter's key.
    pub key: &'a str,
    /// Its window.
    pub window: std::time::Duration,
    /// Attempts allowed per window.
    pub limit: u32,
}

/// What [`Store::hit_counter`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterHit {
    /// The attempt was counted: it may go ahead (and must be settled).
    Counted,
    /// The counter is at its limit but some counted attempts are still
    /// running; nothing was counted. Ask again shortly.
    Pending,
    /// The counter is at its limit and nothing is running; nothing was
    /// counted. The value is the time left until the window ends.
    Limited(std::time::Duration),
}

// The trait must stay object safe: core holds it as `Arc<dyn Store>`.
const _: Option<&dyn Store> = None;

/// Whether `events` are one per project of `projects` (all `owner`'s), in
/// the same order: what [`Store::delete_user`] compares before it deletes,
/// for store implementations.
pub fn events_name<P: AsRef<str>>(events: &[NewEvent], owner: &UserId, projects: &[P]) -> bool {
    events.len() == projects.len()
        && events
            .iter()
            .zip(projects)
            .all(|(e, p)| e.owner_id == *owner && e.project_id.as_str() == p.as_ref())
}

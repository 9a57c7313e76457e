//! Redis store for Slipway: [`RedisStore`].
//!
//! # Layout
//!
//! Every key starts with the configured prefix (`RedisOptions::prefix`), so
//! several instances can share one Redis:
//!
//! | key | type | content |
//! |---|---|---|
//! | `{p}:user:{id}`, `{p}:project:{id}`, `{p}:network:{id}`, `{p}:domain:{id}`, `{p}:auth:{id}`, `{p}:invitation:{id}`, `{p}:apitoken:{id}` | string | the record as JSON |
//! | `{p}:idx:email`, `:idx:github`, `:idx:source`, `:idx:vm`, `:idx:path`, `:idx:netdomain`, `:idx:domain`, `:idx:invemail`, `:idx:invtoken`, `:idx:apitoken` (token hash) | hash | unique value → id |
//! | `{p}:users`, `{p}:domains`, `{p}:invitations`, `{p}:user:{id}:projects`, `:auths`, `:apitokens`, `:networks`, `{p}:project:{id}:networks` | sorted set | ids scored by `{p}:seq` (oldest first) |
//! | `{p}:project:{id}:ver` | string | project version, bumped by every change to it or its networks |
//! | `{p}:domain:{id}:networks` | set | networks using the domain |
//! | `{p}:maindomain` | string | id of the main domain |
//! | `{p}:settings` | hash | setting key → JSON |
//! | `{p}:webhook:{id}` | string | a webhook as JSON (its sealed secret base64) |
//! | `{p}:webhook:{id}:state` | hash | `cursor` (last event delivered), `node` and `until` (Unix ms): the delivery lease |
//! | `{p}:webhook:{id}:deliveries` | sorted set | recent deliveries as JSON, scored by event id (the newest 50) |
//! | `{p}:webhooks`, `{p}:user:{id}:webhooks` | sorted set | webhook ids scored by `{p}:seq` (oldest first) |
//! | `{p}:eventid`, `{p}:events` | string, stream | last event id (after a data loss, never at or below an id the store already saw: see the `events` module); the event log, entry ids `<event id>-0` |
//! | `{p}:audit` | hash | audit entry id → the entry as JSON (its API form) |
//! | `{p}:audit:ids`, `{p}:audit:actor:{user id}`, `{p}:audit:action:{name}` | sorted set | audit entry ids, score 0: lexicographic = time order (newest last) |
//! | `{p}:audit:at` | sorted set | audit entry ids scored by `at` (Unix microseconds), for the purge |
//!
//! # Atomicity
//!
//! Every write is ONE Lua script (`EVALSHA`, loaded again by itself after a
//! Redis restart): it checks ownership and every uniqueness rule first, and
//! only then writes the record, its index entries and — for project-affecting
//! writes — `INCR {p}:eventid` plus `XADD {p}:events MAXLEN <retention>`. Redis
//! runs a script alone, so racing creates with the same email, vmId, sourceId,
//! path or hostname cannot both pass; a refused write returns before its
//! first write and leaves nothing behind.
//!
//! Every write method's audit entry is stored by the same script, on its
//! success path only (`audit_append` in `common.lua`): the entry exists
//! exactly when the change does. Deleting a user keeps the entries that
//! name them (the audit keys are not under the user's).
//!
//! Event payloads are exactly what core builds
//! ([`NewEvent::for_project`](slipway_core::model::NewEvent::for_project)).
//! Project writes take the record and the event from core; an update reads
//! the project, its networks and its version in one snapshot (a read
//! script), answers `Stale` when that is not the project core computed from,
//! and the write script applies it only if the version is still the one it
//! read (else `Stale` too: core reads again). Network writes read the same
//! snapshot, compute the result and the payload in Rust, and retry when the
//! version moved (optimistic concurrency).
//!
//! Scripts touch keys they do not declare, so this store needs a single Redis
//! (or a primary with replicas), not Redis Cluster.
//!
//! # Availability
//!
//! Commands go through a [`redis::aio::ConnectionManager`], which reconnects
//! by itself. Every store call is bounded by `RedisOptions::command_timeout`;
//! when Redis cannot be reached the call answers
//! [`StoreError::Unavailable`] (HTTP 503).
//! The event log is read by one tail reader per store on its own connection
//! (see the `events` module), which reconnects with backoff and continues
//! after the last event it read.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Client, ErrorKind, RedisError, Script};
use slipway_core::error::{StoreError, Unique};
use slipway_core::store::{EventFeed, FeedOptions, StoreResult};

pub use redis;

mod audit;
mod counters;
mod events;
mod projects;
mod records;
mod scripts;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod users;
mod webhooks;

/// Options of a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prefix of every key (without the trailing `:`), e.g. `slipway`.
    pub prefix: String,
    /// How many events the stream keeps for `?since=` replays.
    pub event_retention: usize,
    /// Upper bound of every store call; past it the call answers
    /// `Unavailable`.
    pub command_timeout: Duration,
    /// Upper bound of one connection attempt.
    pub connect_timeout: Duration,
    /// How long one blocking stream read (`XREAD BLOCK`) waits before it is
    /// issued again.
    pub block_timeout: Duration,
    /// Longest pause between reconnection attempts of the event log reader
    /// (kept for compatibility: core's event feed backs off up to 2 s).
    pub max_reconnect_delay: Duration,
    /// How many live events a subscriber may fall behind before it reads
    /// the stream instead of the broadcast.
    pub subscriber_buffer: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "slipway".into(),
            event_retention: 10_000,
            command_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            block_timeout: Duration::from_secs(5),
            max_reconnect_delay: Duration::from_secs(2),
            subscriber_buffer: 1024,
        }
    }
}

/// A [`Store`](slipway_core::Store) on Redis. Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    manager: ConnectionManager,
    options: RedisOptions,
    retention: String,
    /// The newest event id seen: the write scripts' event id floor.
    seen_events: events::SeenEvents,
    /// Core's follower of the event log.
    feed: EventFeed,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.options.prefix)
            .finish_non_exhaustive()
    }
}

/// What a write script answered.
#[derive(Debug)]
pub(crate) enum Reply {
    Ok(Vec<String>),
    Conflict(String),
    NotFound,
    Retry,
    /// A rule refused the write (the last active admin, a used invitation).
    Refused,
}

/// How often a write re-reads and retries when its guard failed.
pub(crate) const MAX_ATTEMPTS: usize = 64;

impl RedisStore {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`).
    ///
    /// Fails with `Unavailable` when Redis cannot be reached within
    /// `connect_timeout`, `Other` for an invalid URL or options.
    pub async fn connect(url: &str, options: RedisOptions) -> StoreResult<Self> {
        if options.prefix.is_empty() {
            return Err(StoreError::other("the Redis key prefix must not be empty"));
        }
        let client = Client::open(url).map_err(StoreError::other)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(options.connect_timeout)
            .set_response_timeout(options.command_timeout)
            .set_number_of_retries(1)
            .set_factor(50)
            .set_max_delay(500);
        let manager = tokio::time::timeout(
            options.connect_timeout * 3,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| StoreError::unavailable("timed out connecting to Redis"))?
        .map_err(map_err)?;
        let retention = options.event_retention.max(1).to_string();
        let feed = EventFeed::new(FeedOptions::default().buffer(options.subscriber_buffer));
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                manager,
                options,
                retention,
                seen_events: events::SeenEvents::default(),
                feed,
            }),
        })
    }

    /// The options in use.
    pub fn options(&self) -> &RedisOptions {
        &self.inner.options
    }

    /// `{prefix}:{rest}`.
    pub(crate) fn key(&self, rest: &str) -> String {
        format!("{}:{}", self.inner.options.prefix, rest)
    }

    pub(crate) fn conn(&self) -> ConnectionManager {
        self.inner.manager.clone()
    }

    /// Runs `fut` within the command timeout, mapping errors.
    pub(crate) async fn timed<T>(
        &self,
        fut: impl Future<Output = Result<T, RedisError>>,
    ) -> StoreResult<T> {
        match tokio::time::timeout(self.inner.options.command_timeout, fut).await {
            Ok(r) => r.map_err(map_err),
            Err(_) => Err(StoreError::unavailable("Redis did not answer in time")),
        }
    }

    /// The newest event id this store has seen (see [`events::SeenEvents`]).
    pub(crate) fn seen_events(&self) -> &events::SeenEvents {
        &self.inner.seen_events
    }

    /// `ARGV[2]` of every script: `<event retention>:<event id floor>`.
    fn event_args(&self) -> String {
        format!(
            "{}:{}",
            self.inner.retention,
            self.inner.seen_events.floor()
        )
    }

    /// Runs a write script with the prefix and the event arguments (see
    /// `common.lua`) before `args`.
    pub(crate) async fn write(&self, script: &Script, args: &[&str]) -> StoreResult<Reply> {
        let mut inv = script.prepare_invoke();
        inv.arg(&self.inner.options.prefix).arg(self.event_args());
        for a in args {
            inv.arg(*a);
        }
        let mut conn = self.conn();
        let raw: Vec<String> = self.timed(inv.invoke_async(&mut conn)).await?;
        let mut it = raw.into_iter();
        match it.next().as_deref() {
            Some("ok") => Ok(Reply::Ok(it.collect())),
            Some("conflict") => Ok(Reply::Conflict(it.next().unwrap_or_default())),
            Some("notfound") => Ok(Reply::NotFound),
            Some("retry") => Ok(Reply::Retry),
            Some("refused") => Ok(Reply::Refused),
            other => Err(StoreError::other(format!(
                "unexpected script answer {other:?}"
            ))),
        }
    }

    /// Runs a write script that stores `audit` with its change: `args`, then
    /// the entry's five arguments (`audit_append` in `common.lua`; the script
    /// documents where they start).
    pub(crate) async fn write_audited(
        &self,
        script: &Script,
        args: &[&str],
        audit: &audit::AuditArgs,
    ) -> StoreResult<Reply> {
        let mut all = args.to_vec();
        all.extend(audit.args());
        self.write(script, &all).await
    }

    /// Runs a read script with the prefix and the event arguments before
    /// `args`.
    pub(crate) async fn read<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        args: &[&str],
    ) -> StoreResult<T> {
        let mut inv = script.prepare_invoke();
        inv.arg(&self.inner.options.prefix).arg(self.event_args());
        for a in args {
            inv.arg(*a);
        }
        let mut conn = self.conn();
        self.timed(inv.invoke_async(&mut conn)).await
    }

    /// GET of `{prefix}:{rest}`.
    pub(crate) async fn get_raw(&self, rest: &str) -> StoreResult<Option<String>> {
        let mut conn = self.conn();
        let key = self.key(rest);
        self.timed(async move { conn.get(key).await }).await
    }

    /// The records under `{prefix}:{kind}:{id}` for the ids of a sorted set,
    /// in the set's order (oldest first); ids whose record vanished meanwhile
    /// are skipped.
    pub(crate) async fn records_of(&self, zset: &str, kind: &str) -> StoreResult<Vec<String>> {
        let mut conn = self.conn();
        let zkey = self.key(zset);
        let ids: Vec<String> = self.timed(async { conn.zrange(zkey, 0, -1).await }).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids
            .iter()
            .map(|id| self.key(&format!("{kind}:{id}")))
            .collect();
        let mut conn = self.conn();
        let vals: Vec<Option<String>> = self
            .timed(async { redis::cmd("MGET").arg(&keys).query_async(&mut conn).await })
            .await?;
        Ok(vals.into_iter().flatten().collect())
    }
}

/// Maps a redis-rs error to a store error: anything that means "Redis cannot
/// be reached or cannot serve right now" is `Unavailable`. That includes a
/// peer whose answers are not Redis's protocol at all (`ParseError`: another
/// service on the address, say after Redis crashed and its port was reused);
/// an error Redis itself answers (`ERR ...`) stays `Other`.
pub(crate) fn map_err(e: RedisError) -> StoreError {
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::ParseError
                | ErrorKind::BusyLoadingError
                | ErrorKind::TryAgain
                | ErrorKind::MasterDown
                | ErrorKind::ClusterDown
                | ErrorKind::ReadOnly
        )
        || matches!(e.code(), Some("MISCONF" | "LOADING" | "OOM"));
    if transient {
        StoreError::unavailable(e)
    } else {
        StoreError::other(e)
    }
}

/// The store error a script's `{'conflict', name}` answer stands for.
fn conflict(name: &str) -> StoreError {
    let unique = match name {
        "email" => Unique::Email,
        "githubId" => Unique::GitHubId,
        "sourceId" => Unique::SourceId,
        "vmId" => Unique::VmId,
        "path" => Unique::ProjectPath,
        // A network's hostname is taken, or its covering domain is gone.
        "domain" => Unique::NetworkHostname,
        "domainName" => Unique::DomainName,
        "main" => Unique::MainDomain,
        "id" => Unique::Id,
        "invitationEmail" => Unique::InvitationEmail,
        "signup" => return StoreError::Refused,
        "networks" => return StoreError::InUse,
        other => {
            return StoreError::other(format!("a script reported an unknown conflict `{other}`"))
        }
    };
    StoreError::conflict(unique)
}

/// A create's quota as its script takes it: the most records the user may
/// keep, `""` for none (`usize::MAX`).
pub(crate) fn quota_arg(max: usize) -> String {
    if max == usize::MAX {
        String::new()
    } else {
        max.to_string()
    }
}

/// Turns a refused write into its store error.
pub(crate) fn refused<T>(reply: Reply) -> StoreResult<T> {
    match reply {
        Reply::Conflict(field) => Err(conflict(&field)),
        Reply::NotFound => Err(StoreError::NotFound),
        Reply::Refused => Err(StoreError::Refused),
        Reply::Retry => Err(StoreError::unavailable(
            "too many concurrent changes to one record; try again",
        )),
        Reply::Ok(_) => Err(StoreError::other("unexpected success")),
    }
}

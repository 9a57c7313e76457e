//! [`PgStore`], its options, connecting and migrating.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Connection as _;

use slipway_core::store::StoreResult;
use slipway_core::StoreError;

use slipway_core::store::{EventFeed, FeedOptions};

/// Namespace (first key) of Slipway's two-key advisory locks.
pub(crate) const LOCK_NS: i32 = 0x534c_5057; // "SLPW"
/// Second key: schema migrations (session lock).
pub(crate) const LOCK_MIGRATE: i32 = 1;
/// Second key: user creation ("first user is admin", `first_only`) and
/// admin changes (update and delete keep an active admin).
pub(crate) const LOCK_USERS: i32 = 2;
// Second key 3: giving committed events their ids (a transaction lock taken
// in SQL by `slipway_assign_event_ids`, where the namespace is written as
// the literal 1397510231).
/// Namespace of per-user authorization upsert locks (second key: hash of the user id).
pub(crate) const LOCK_NS_AUTH: i32 = 0x534c_5058;

/// A pooled connection idle for at least this long is pinged before use.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Settings of a [`PgStore`]: pool, timeouts and event retention.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PgOptions {
    /// Most connections the pool opens (default 10). The event fan-out uses
    /// one more, dedicated connection.
    pub max_connections: u32,
    /// Connections kept open when idle (default 0).
    pub min_connections: u32,
    /// How long a call waits for a pooled connection before answering
    /// `Unavailable` (default 3 s). While the database is down, requests
    /// fail after this long.
    pub acquire_timeout: Duration,
    /// Server-side limit of one SQL statement (`statement_timeout`, default
    /// 5 s); `idle_in_transaction_session_timeout` is set to twice this.
    pub statement_timeout: Duration,
    /// Client-side limit of one store call, all statements included
    /// (default 10 s); past it the call answers `Unavailable`.
    pub operation_timeout: Duration,
    /// Idle pooled connections are closed after this long (default 10 min).
    pub idle_timeout: Option<Duration>,
    /// How many events the log keeps for `?since=` replays (default 10 000).
    pub event_retention: u64,
    /// How many live events a subscriber may fall behind before it re-reads
    /// the log from the table (default 1024).
    pub subscriber_buffer: usize,
    /// How often the event feed re-reads the log even without a
    /// notification, and checks it has not gone back (a restored backup), as
    /// a safety net (default 1 s).
    pub poll_interval: Duration,
    /// Whether opening the store applies the embedded migrations (default
    /// `true`). Off for deployments that migrate separately: the store then
    /// opens whatever schema it finds, and [`Store::ready`](slipway_core::Store::ready)
    /// tells whether it is migrated.
    pub migrate: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(600)),
            event_retention: 10_000,
            subscriber_buffer: 1024,
            poll_interval: Duration::from_secs(1),
            migrate: true,
        }
    }
}

impl PgOptions {
    /// Sets [`PgOptions::migrate`].
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }
    /// Sets [`PgOptions::max_connections`].
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }
    /// Sets [`PgOptions::acquire_timeout`].
    pub fn acquire_timeout(mut self, d: Duration) -> Self {
        self.acquire_timeout = d;
        self
    }
    /// Sets [`PgOptions::statement_timeout`].
    pub fn statement_timeout(mut self, d: Duration) -> Self {
        self.statement_timeout = d;
        self
    }
    /// Sets [`PgOptions::operation_timeout`].
    pub fn operation_timeout(mut self, d: Duration) -> Self {
        self.operation_timeout = d;
        self
    }
    /// Sets [`PgOptions::event_retention`] (at least 1).
    pub fn event_retention(mut self, n: u64) -> Self {
        self.event_retention = n.max(1);
        self
    }
    /// Sets [`PgOptions::poll_interval`].
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }
    /// Sets [`PgOptions::subscriber_buffer`].
    pub fn subscriber_buffer(mut self, n: usize) -> Self {
        self.subscriber_buffer = n.max(1);
        self
    }
}

/// A [`Store`](slipway_core::Store) on PostgreSQL. Cheap to clone; several
/// processes may share one database.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: PgPool,
    pub(crate) options: PgOptions,
    /// Where the LISTEN connection of the event signals connects.
    pub(crate) listen: PgConnectOptions,
    pub(crate) feed: EventFeed,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No URL: it may hold a password.
        f.debug_struct("PgStore")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://user:pass@host:port/db`)
    /// and brings its schema up to date.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self, sqlx::Error> {
        Self::connect_with(PgConnectOptions::from_str(url)?, options).await
    }

    /// [`PgStore::connect`] with parsed connect options.
    pub async fn connect_with(
        connect: PgConnectOptions,
        options: PgOptions,
    ) -> Result<Self, sqlx::Error> {
        let connect = connect.application_name("slipway");
        if options.migrate {
            migrate(&connect).await?;
        }
        let statement_ms = options.statement_timeout.as_millis().max(1).to_string();
        // A session stuck inside a transaction (say, a frozen client) would
        // hold its row locks: the server ends it after twice the statement
        // timeout.
        let idle_ms = (options.statement_timeout.as_millis().max(1) * 2).to_string();
        let pool_connect = connect.clone().options([
            ("statement_timeout", statement_ms.as_str()),
            ("idle_in_transaction_session_timeout", idle_ms.as_str()),
            // The event id assignment relies on each statement seeing what
            // committed before it (events.rs), whatever the server's default.
            // (A space in an option is escaped for PostgreSQL.)
            ("default_transaction_isolation", r"read\ committed"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(options.idle_timeout)
            // Ping a pooled connection before use when it has been idle for
            // a while, so connections that died with a restarted server are
            // replaced instead of failing a call. sqlx already pings every
            // connection when it goes back to the pool, so one that was
            // returned moments ago is known to be alive: skipping the second
            // ping saves a round trip on busy connections (see
            // BENCHMARKS.md).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(pool_connect)
            .await?;
        let feed = EventFeed::new(
            FeedOptions::default()
                .buffer(options.subscriber_buffer)
                .poll_interval(options.poll_interval),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                options,
                listen: connect,
                feed,
            }),
        })
    }

    /// The connection pool (for host applications sharing the database).
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &PgOptions {
        &self.inner.options
    }

    /// Commits a write that appended events and wakes every node
    /// ([`events::commit`](crate::events::commit)).
    pub(crate) async fn commit_events(
        &self,
        tx: sqlx::Transaction<'_, sqlx::Postgres>,
    ) -> StoreResult<()> {
        crate::events::commit(tx, &self.inner.pool).await.db()
    }

    /// Runs one store call, bounded by [`PgOptions::operation_timeout`].
    pub(crate) async fn run<T>(
        &self,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        match tokio::time::timeout(self.inner.options.operation_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(
                "the database did not answer within the operation timeout",
            )),
        }
    }
}

/// Runs the embedded migrations under a session advisory lock, on a
/// connection of its own (no statement timeout while waiting for the lock).
async fn migrate(connect: &PgConnectOptions) -> Result<(), sqlx::Error> {
    // Without NOTICEs such as "relation _sqlx_migrations already exists".
    let quiet = connect
        .clone()
        .options([("client_min_messages", "warning")]);
    let mut conn = sqlx::postgres::PgConnection::connect_with(&quiet).await?;
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(LOCK_NS)
        .bind(LOCK_MIGRATE)
        .execute(&mut conn)
        .await?;
    let mut migrator = sqlx::migrate!("./migrations");
    // Our own lock already serializes nodes; sqlx's would be a second one.
    migrator.set_locking(false);
    let result = migrator.run(&mut conn).await;
    // Closing the session releases the lock even if the unlock fails.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
        .bind(LOCK_NS)
        .bind(LOCK_MIGRATE)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    result.map_err(sqlx::Error::from)
}

/// `?`-friendly conversion of sqlx results (the orphan rule forbids `From`).
pub(crate) trait Db<T> {
    /// Maps the error with [`crate::error::map`].
    fn db(self) -> StoreResult<T>;
}

impl<T> Db<T> for Result<T, sqlx::Error> {
    fn db(self) -> StoreResult<T> {
        self.map_err(crate::error::map)
    }
}

/// PostgreSQL keeps microseconds: records are truncated to that before they
/// are written, so what a create returns equals what a later read returns.
pub(crate) fn micros(t: slipway_core::model::Timestamp) -> slipway_core::model::Timestamp {
    chrono::SubsecRound::trunc_subsecs(t, 6)
}

/// `Ok` when `applied` (the versions `_sqlx_migrations` records as applied)
/// holds every embedded migration; else [`StoreError::Unavailable`] naming
/// how many are missing and the fix.
pub(crate) fn missing_migrations(applied: &[i64]) -> StoreResult<()> {
    let migrator = sqlx::migrate!("./migrations");
    let missing = migrator
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .count();
    if missing == 0 {
        return Ok(());
    }
    Err(StoreError::unavailable(format!(
        "the database schema is not migrated ({missing} of {} migrations missing): run \
         `slipway-server migrate` (or open the store with migrations on)",
        migrator.iter().count()
    )))
}

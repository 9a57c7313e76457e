//! [`SqliteStore`], its options, opening (lock, pools, migrations).

use std::fs::{File, OpenOptions, TryLockError};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Sqlite;

use slipway_core::store::StoreResult;
use slipway_core::StoreError;

use slipway_core::store::{EventFeed, FeedOptions};
use tokio::sync::watch;

use crate::events::HighWater;

/// Settings of a [`SqliteStore`]: pools, timeouts, durability and event retention.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Connections that serve reads (default 8). Writes go through one
    /// connection of their own: SQLite has one writer at a time.
    pub max_readers: u32,
    /// How long a statement waits for a lock held by another connection
    /// (SQLite's busy timeout, default 5 s). With one process per file this
    /// only matters while `slipway-server admin backup` reads the file.
    pub busy_timeout: Duration,
    /// Limit of one store call, waiting for the writer included (default
    /// 10 s); past it the call answers `Unavailable`.
    pub operation_timeout: Duration,
    /// When a commit reaches the disk (default [`SqliteSynchronous::Full`]:
    /// the WAL is synced at every commit, so an acknowledged write survives a
    /// crash of the process **and** of the machine; `Normal` still survives a
    /// crash of the process but may lose the last commits on power loss).
    pub synchronous: SqliteSynchronous,
    /// How many events the log keeps for `?since=` replays (default 10 000).
    pub event_retention: u64,
    /// How many live events a subscriber may fall behind before it re-reads
    /// the log from the table (default 1024).
    pub subscriber_buffer: usize,
    /// How often the event fan-out re-reads the log even when no write woke
    /// it, as a safety net (default 5 s).
    pub poll_interval: Duration,
    /// Whether opening the store applies the embedded migrations (default
    /// `true`). Off for deployments that migrate separately: the store then
    /// opens whatever schema it finds, and [`Store::ready`](slipway_core::Store::ready)
    /// tells whether it is migrated.
    pub migrate: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_readers: 8,
            busy_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
            synchronous: SqliteSynchronous::Full,
            event_retention: 10_000,
            subscriber_buffer: 1024,
            poll_interval: Duration::from_secs(5),
            migrate: true,
        }
    }
}

impl SqliteOptions {
    /// Sets [`SqliteOptions::migrate`].
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }
    /// Sets [`SqliteOptions::max_readers`] (at least 1).
    pub fn max_readers(mut self, n: u32) -> Self {
        self.max_readers = n.max(1);
        self
    }
    /// Sets [`SqliteOptions::busy_timeout`].
    pub fn busy_timeout(mut self, d: Duration) -> Self {
        self.busy_timeout = d;
        self
    }
    /// Sets [`SqliteOptions::operation_timeout`].
    pub fn operation_timeout(mut self, d: Duration) -> Self {
        self.operation_timeout = d;
        self
    }
    /// Sets [`SqliteOptions::synchronous`].
    pub fn synchronous(mut self, s: SqliteSynchronous) -> Self {
        self.synchronous = s;
        self
    }
    /// Sets [`SqliteOptions::event_retention`] (at least 1).
    pub fn event_retention(mut self, n: u64) -> Self {
        self.event_retention = n.max(1);
        self
    }
    /// Sets [`SqliteOptions::subscriber_buffer`] (at least 1).
    pub fn subscriber_buffer(mut self, n: usize) -> Self {
        self.subscriber_buffer = n.max(1);
        self
    }
    /// Sets [`SqliteOptions::poll_interval`].
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }
}

/// Why [`SqliteStore::open`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL is not `sqlite://<path>` or `sqlite:<path>`.
    #[error("invalid SQLite URL: {0}")]
    InvalidUrl(String),
    /// Another store (in this or another process) has the file open.
    #[error(
        "the SQLite database {} is already in use by another Slipway server (lock file {} \
         is held): one server per database file; stop the other one, or use PostgreSQL or \
         Redis to run several nodes",
        path.display(),
        lock.display()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
        /// The lock file beside it.
        lock: PathBuf,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock {}: {source}", lock.display())]
    Lock {
        /// The lock file.
        lock: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open the SQLite database {}: {source}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the SQLite database {}: {source}", path.display())]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// What the migrator said.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

/// The database file a `sqlite://<path>` or `sqlite:<path>` URL names
/// (relative paths are relative to the working directory; `sqlite:///abs`
/// is absolute). Query parameters and in-memory databases are refused:
/// use the `memory:` store for throwaway data.
pub fn path_from_url(url: &str) -> Result<PathBuf, OpenError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            OpenError::InvalidUrl(format!("`{url}` does not start with sqlite:// or sqlite:"))
        })?;
    if rest.is_empty() {
        return Err(OpenError::InvalidUrl(
            "no file name: use sqlite://slipway.db or sqlite:///var/lib/slipway/slipway.db".into(),
        ));
    }
    if rest.contains('?') {
        return Err(OpenError::InvalidUrl(
            "query parameters are not supported: the URL names the database file only".into(),
        ));
    }
    if rest == ":memory:" || rest.starts_with("file:") {
        return Err(OpenError::InvalidUrl(
            "in-memory and `file:` SQLite URLs are not supported: use the memory: store for \
             throwaway data"
                .into(),
        ));
    }
    Ok(PathBuf::from(rest))
}

/// The lock file of database `path`: `<path>.lock`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// A [`Store`](slipway_core::Store) in one SQLite file. Cheap to clone; one
/// process at a time may have the file open (see [`SqliteStore::open`]).
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// One connection: every write, in turn.
    pub(crate) writer: SqlitePool,
    /// Read-only connections.
    pub(crate) readers: SqlitePool,
    pub(crate) options: SqliteOptions,
    /// Counts commits that appended events (the feed's wake-ups).
    pub(crate) signal: watch::Sender<u64>,
    /// The newest event id handed out (see [`HighWater`]): how the store
    /// notices its log went back behind its back.
    pub(crate) high_water: HighWater,
    pub(crate) feed: EventFeed,
    path: PathBuf,
    /// Holds the exclusive lock on `<path>.lock` while the store lives.
    _lock: File,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database a `sqlite://<path>` / `sqlite:<path>` URL names
    /// (see [`path_from_url`]), creating the file when missing.
    pub async fn open(url: &str, options: SqliteOptions) -> Result<Self, OpenError> {
        Self::open_path(path_from_url(url)?, options).await
    }

    /// Opens (creating when missing) the database file `path`: takes the
    /// exclusive lock on `<path>.lock` (refused with [`OpenError::Locked`]
    /// while another store holds it), switches the file to WAL, runs the
    /// embedded migrations and starts the event fan-out.
    pub async fn open_path(
        path: impl Into<PathBuf>,
        options: SqliteOptions,
    ) -> Result<Self, OpenError> {
        let path = path.into();
        let lock = acquire_lock(&path)?;
        create_private(&path).map_err(|source| OpenError::Database {
            path: path.clone(),
            source: sqlx::Error::Io(source),
        })?;
        let db_err = |source| OpenError::Database {
            path: path.clone(),
            source,
        };
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true);
        let writer_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(options.synchronous);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // Writers queue for the one connection; the operation timeout
            // bounds the wait.
            .acquire_timeout(options.operation_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(writer_options)
            .await
            .map_err(db_err)?;
        if options.migrate {
            let mut conn = writer.acquire().await.map_err(db_err)?;
            sqlx::migrate!("./migrations")
                .run(&mut *conn)
                .await
                .map_err(|source| OpenError::Migrate {
                    path: path.clone(),
                    source,
                })?;
        }
        // Where the log stands (nothing yet without the schema).
        let high_water = HighWater::default();
        if let Ok(mut conn) = writer.acquire().await {
            if let Ok(id) = crate::events::last_id(&mut *conn).await {
                high_water.raise(id);
            }
        }
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_readers.max(1))
            .acquire_timeout(options.operation_timeout)
            .connect_with(base.read_only(true))
            .await
            .map_err(db_err)?;
        let feed = EventFeed::new(
            FeedOptions::default()
                .buffer(options.subscriber_buffer)
                .poll_interval(options.poll_interval),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                writer,
                readers,
                options,
                signal: watch::channel(0).0,
                high_water,
                feed,
                path,
                _lock: lock,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.inner.options
    }

    /// The read-only connection pool (for host applications reading the
    /// database; writes must go through the store).
    pub fn readers(&self) -> &SqlitePool {
        &self.inner.readers
    }

    /// Stops the event fan-out and closes both pools, waiting for their
    /// connections to finish; the writer goes last, so SQLite checkpoints
    /// the WAL into the database file and removes it (unless an event stream
    /// is reading at that moment). Calls made after this fail. The lock is released once the last clone of the store is
    /// dropped.
    pub async fn close(&self) {
        self.inner.feed.stop().await;
        self.inner.readers.close().await;
        self.inner.writer.close().await;
    }

    /// The write connection (waits for the current writer to finish).
    pub(crate) async fn writer(&self) -> StoreResult<PoolConnection<Sqlite>> {
        self.inner.writer.acquire().await.db()
    }

    /// Appends `event` to the log in the writer's transaction `conn`
    /// (see [`crate::events::append`]); returns its id.
    pub(crate) async fn append_event(
        &self,
        conn: &mut sqlx::SqliteConnection,
        event: slipway_core::model::NewEvent,
    ) -> StoreResult<i64> {
        crate::events::append(
            conn,
            event,
            self.inner.options.event_retention,
            &self.inner.high_water,
        )
        .await
        .db()
    }

    /// After a commit that appended events up to `newest`: wakes the event
    /// feed. Call it while still holding the writer connection.
    pub(crate) fn committed(&self, newest: i64) {
        self.inner.high_water.raise(newest);
        self.inner.signal.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Runs one store call, bounded by [`SqliteOptions::operation_timeout`].
    pub(crate) async fn run<T>(
        &self,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        match tokio::time::timeout(self.inner.options.operation_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(
                "the SQLite database did not answer within the operation timeout",
            )),
        }
    }
}

/// Creates the database file when missing, readable and writable by its
/// owner only (it holds password hashes and sealed credentials). SQLite
/// gives its `-wal` and `-shm` files the database file's permissions.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `<path>.lock` and takes an exclusive lock on it, without waiting.
fn acquire_lock(path: &Path) -> Result<File, OpenError> {
    let lock = lock_path(path);
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&lock).map_err(|source| OpenError::Lock {
        lock: lock.clone(),
        source,
    })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(OpenError::Locked {
            path: path.to_path_buf(),
            lock,
        }),
        Err(TryLockError::Error(source)) => Err(OpenError::Lock { lock, source }),
    }
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

//! Core's backend cases (the event feed across a backend restart and a
//! backend that lost its data) against SqliteStore, one fresh file per case.
//!
//! SQLite has no server to restart: [`Backend::restart`] answers `false` and
//! that case skips (a restart of the process that holds the file is covered
//! by `tests/tests/sqlite_restart.rs`). Losing the data is what restoring an
//! older backup of the file does: everything vanishes behind the store's
//! back, over another connection to the same file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use slipway_core::model::{Event, FeedItem, RoleGate, User};
use slipway_core::store::EventStream;
use slipway_core::testing::cases::{audit, new_project, new_user, Backend};
use slipway_core::testing::CoreProjectWrites;
use slipway_core::Store;
use slipway_sqlite::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use slipway_sqlite::sqlx::{self, Connection as _};
use slipway_sqlite::testing::TempDb;
use slipway_sqlite::{SqliteOptions, SqliteStore};

/// The database file of one case (removed with the directory when the case
/// drops it, after the store).
struct File {
    db: TempDb,
    options: SqliteOptions,
}

impl File {
    fn path(&self) -> PathBuf {
        self.db.path()
    }

    /// A connection of its own to the file, with the store's pragmas (WAL,
    /// its busy timeout and durability, foreign keys), so it takes turns with
    /// the store's connections.
    async fn connect(&self) -> Result<sqlx::SqliteConnection, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(self.path())
            .busy_timeout(self.options.busy_timeout)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(self.options.synchronous);
        sqlx::SqliteConnection::connect_with(&options).await
    }

    /// Deletes every row of every table of the store's schema and puts the
    /// event counter back to 0, in one transaction over [`File::connect`]:
    /// the file is as freshly migrated. The migrations table stays.
    async fn wipe(&self) -> Result<(), sqlx::Error> {
        let mut conn = self.connect().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        // Rows referencing rows deleted later are gone too by the commit.
        sqlx::query("PRAGMA defer_foreign_keys = ON")
            .execute(&mut *tx)
            .await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations' \
             ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await?;
        assert!(
            tables.iter().any(|t| t == "events") && tables.iter().any(|t| t == "event_counter"),
            "the store's schema is in the file: {tables:?}"
        );
        for table in &tables {
            sqlx::query(&format!("DELETE FROM \"{table}\""))
                .execute(&mut *tx)
                .await?;
        }
        // The id sequence starts again from 0 (the row the first migration
        // inserts).
        sqlx::query("INSERT INTO event_counter (singleton, last_id) VALUES (1, 0)")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        conn.close().await
    }
}

#[async_trait]
impl Backend for File {
    async fn restart(&self) -> bool {
        // No server: the store is the only process with the file open.
        false
    }

    async fn lose_data(&self) -> bool {
        self.wipe().await.expect("wipe the database file");
        true
    }
}

async fn setup() -> Option<(Arc<dyn Store>, Arc<dyn Backend>)> {
    let (store, file) = fresh(SqliteOptions::default().event_retention(100)).await;
    Some((Arc::new(store), Arc::new(file)))
}

slipway_core::store_backend_conformance!(setup);

/// A store on a fresh file, and the file.
async fn fresh(options: SqliteOptions) -> (SqliteStore, File) {
    let db = TempDb::new_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary directory");
    let store = SqliteStore::open(&db.url(), options.clone())
        .await
        .expect("open a fresh database file");
    (store, File { db, options })
}

async fn next(feed: &mut EventStream) -> FeedItem {
    tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("an item within 10 s")
        .expect("the stream goes on")
        .expect("no store error")
}

async fn next_event(feed: &mut EventStream) -> Event {
    match next(feed).await {
        FeedItem::Event(e) => e,
        FeedItem::Resync => panic!("unexpected resync"),
    }
}

async fn nothing_more(feed: &mut EventStream) {
    let extra = tokio::time::timeout(Duration::from_millis(300), feed.next()).await;
    assert!(extra.is_err(), "no extra item: {extra:?}");
}

/// A user and a subscriber that read the events of five new projects.
async fn five_events_read(store: &SqliteStore) -> (EventStream, User) {
    let a = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut feed = store.events(None).await.unwrap();
    for _ in 0..5 {
        store
            .core_create_project(new_project(&a.id), &audit())
            .await
            .unwrap();
    }
    for id in 1..=5 {
        assert_eq!(next_event(&mut feed).await.id, id);
    }
    (feed, a)
}

/// The feed's poll finds the log behind its subscribers before anything is
/// written: they resync at once, and the log goes on from where it now ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_the_feed_finds_first_resyncs_then_the_log_goes_on_from_its_end() {
    let (store, file) =
        fresh(SqliteOptions::default().poll_interval(Duration::from_millis(50))).await;
    let (mut feed, _) = five_events_read(&store).await;
    file.wipe().await.unwrap();
    assert_eq!(next(&mut feed).await, FeedItem::Resync);
    let b = store
        .create_user(new_user("b"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let p = store
        .core_create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    let e = next_event(&mut feed).await;
    assert_eq!((e.id, e.project_id), (1, p.id));
    assert_eq!(store.last_event_id().await.unwrap(), 1);
    nothing_more(&mut feed).await;
}

/// A write finds the log behind what the store handed out before the feed's
/// poll does: its event takes the id after a gap, so every subscriber (and
/// every cursor from before the loss) resyncs once and gets it, instead of
/// skipping the new events whose ids it had passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_a_write_finds_first_leaves_a_gap_that_resyncs() {
    // No poll during the case: only writes find the loss.
    let (store, file) =
        fresh(SqliteOptions::default().poll_interval(Duration::from_secs(3600))).await;
    let (mut feed, _) = five_events_read(&store).await;
    file.wipe().await.unwrap();
    let b = store
        .create_user(new_user("b"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let p = store
        .core_create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    let q = store
        .core_create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    assert_eq!(next(&mut feed).await, FeedItem::Resync);
    let e = next_event(&mut feed).await;
    assert_eq!(
        (e.id, e.project_id),
        (7, p.id),
        "5 was the newest id handed out; 6 is the gap"
    );
    let e = next_event(&mut feed).await;
    assert_eq!((e.id, e.project_id), (8, q.id));
    assert_eq!(store.last_event_id().await.unwrap(), 8);
    nothing_more(&mut feed).await;
    // A cursor from before the loss (a client reconnecting) resyncs too.
    let mut replay = store.events(Some(3)).await.unwrap();
    assert_eq!(next(&mut replay).await, FeedItem::Resync);
    assert_eq!(next_event(&mut replay).await.id, 7);
    assert_eq!(next_event(&mut replay).await.id, 8);
    nothing_more(&mut replay).await;
}

/// Writes rolled back after taking their event ids (one, or several in one
/// transaction) give the ids back and leave no gap: the next event is the
/// next id, with no resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_event_id_leaves_no_gap() {
    // No poll during the case: nothing reads the log between the writes.
    let (store, file) =
        fresh(SqliteOptions::default().poll_interval(Duration::from_secs(3600))).await;
    let (mut feed, a) = five_events_read(&store).await;
    // Another connection makes the next audit entry (written after the
    // event) fail.
    let mut conn = file.connect().await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert!(store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .is_err());
    assert!(
        store.core_delete_user(&a.id, &audit()).await.is_err(),
        "five delete events, rolled back"
    );
    sqlx::query("DROP TRIGGER refuse_audit")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let e = next_event(&mut feed).await;
    assert_eq!((e.id, e.project_id), (6, p.id));
    assert_eq!(store.last_event_id().await.unwrap(), 6);
    nothing_more(&mut feed).await;
}

//! The backend conformance cases against PgStore: a subscriber keeps its
//! place across a crash and restart of PostgreSQL, and resyncs once after
//! the database lost its data.
//!
//! Each case starts a private PostgreSQL instance (`testing::PgInstance`:
//! initdb into a temp dir, a free port) so it can kill it: never the shared
//! test server. Without PostgreSQL's programs (`PG_BIN`, default
//! `/usr/lib/postgresql/15/bin`) every case skips with a notice, unless
//! `SLIPWAY_REQUIRE_BACKENDS=1`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use slipway_core::model::FeedItem;
use slipway_core::testing::cases::Backend;
use slipway_core::Store;
use slipway_postgres::sqlx::postgres::PgConnectOptions;
use slipway_postgres::sqlx::{self, ConnectOptions, Connection};
use slipway_postgres::testing::{self, PgInstance};
use slipway_postgres::{PgOptions, PgStore};

/// A PgStore's private PostgreSQL instance and the database it uses.
struct PgBackend {
    pg: Arc<PgInstance>,
    /// The store's database.
    url: String,
    /// The store, to see when its event feed has noticed a data loss.
    store: Arc<dyn Store>,
}

#[async_trait]
impl Backend for PgBackend {
    /// SIGKILL of the postmaster (a crash: no shutdown checkpoint), then a
    /// start on the same data directory and port (crash recovery); returns
    /// once it accepts connections.
    async fn restart(&self) -> bool {
        let pg = self.pg.clone();
        tokio::task::spawn_blocking(move || {
            pg.kill();
            pg.start();
        })
        .await
        .expect("restart PostgreSQL");
        true
    }

    /// As a backup from before the store was used, restored: over a
    /// connection of its own, empties every table of the store's schema
    /// (the migrations stay applied) and puts the event counter back to 0.
    ///
    /// Returns once the store's event feed has seen the log go back (its
    /// next poll, within `PgOptions::poll_interval`), as a restore is over
    /// before clients write again. Core's feed resumes after the newest id
    /// it finds when it notices: an event written between the loss and that
    /// poll would be covered by the `Resync` rather than delivered after it,
    /// which the case does not allow.
    async fn lose_data(&self) -> bool {
        let had_events = self.store.last_event_id().await.expect("last event id") > 0;
        // Subscribed before the loss: its cursor is the end of the old log.
        let mut probe = self.store.events(None).await.expect("subscribe");
        lose_data(&self.url)
            .await
            .expect("empty the store's database");
        if had_events {
            let item = tokio::time::timeout(Duration::from_secs(10), probe.next()).await;
            assert!(
                matches!(item, Ok(Some(Ok(FeedItem::Resync)))),
                "the store's feed did not notice the data loss within 10 s: {item:?}"
            );
        }
        true
    }
}

/// Empties every table but the migration history, in one transaction, and
/// seeds the event counter as the first migration does.
async fn lose_data(url: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnectOptions::from_str(url)?
        .options([("client_min_messages", "warning")])
        .connect()
        .await?;
    let mut tx = conn.begin().await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
         WHERE schemaname = current_schema() AND tablename <> '_sqlx_migrations' \
         ORDER BY tablename",
    )
    .fetch_all(&mut *tx)
    .await?;
    assert!(
        tables.iter().any(|t| t.ends_with(".events")),
        "the store's tables: {tables:?}"
    );
    // The names come from the catalog, quoted by format('%I').
    let truncate = format!("TRUNCATE {} RESTART IDENTITY CASCADE", tables.join(", "));
    sqlx::query(&truncate).execute(&mut *tx).await?;
    sqlx::query("INSERT INTO event_counter (singleton, last_id) VALUES (TRUE, 0)")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let _ = conn.close().await;
    Ok(())
}

async fn setup() -> Option<(Arc<dyn Store>, Arc<dyn Backend>)> {
    if !PgInstance::available() {
        let bin = testing::pg_bin();
        if testing::require_backends() {
            panic!(
                "PostgreSQL's programs are missing from {} but SLIPWAY_REQUIRE_BACKENDS=1",
                bin.display()
            );
        }
        eprintln!(
            "notice: no PostgreSQL programs in {} (set PG_BIN); backend cases skip",
            bin.display()
        );
        return None;
    }
    let pg = Arc::new(
        tokio::task::spawn_blocking(PgInstance::start_fresh)
            .await
            .expect("start a private PostgreSQL"),
    );
    let url = testing::fresh_database(&pg.admin_url())
        .await
        .expect("a database on the private PostgreSQL");
    let options = PgOptions::default()
        .event_retention(100)
        .max_connections(20);
    let store = PgStore::connect(&url, options)
        .await
        .expect("connect to the fresh database");
    let store: Arc<dyn Store> = Arc::new(store);
    let backend = PgBackend {
        pg,
        url,
        store: store.clone(),
    };
    Some((store, Arc::new(backend)))
}

slipway_core::store_backend_conformance!(setup);

//! The store conformance suite against SqliteStore, one fresh file per case.

use std::sync::Arc;

use slipway_core::Store;
use slipway_sqlite::testing::TempDb;
use slipway_sqlite::{SqliteOptions, SqliteStore};

async fn setup() -> Option<Arc<dyn Store>> {
    // The directory outlives the case (the store is handed out): it is
    // under the system's temporary directory.
    let db = TempDb::new().expect("a temporary directory");
    let store = SqliteStore::open(&db.url(), SqliteOptions::default().event_retention(100))
        .await
        .expect("open a fresh database file");
    db.keep();
    Some(Arc::new(store))
}

slipway_core::store_conformance!(setup);

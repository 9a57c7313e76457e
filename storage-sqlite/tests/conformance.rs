//! The store conformance suite against SqliteStore, one fresh file per case.

use std::sync::Arc;

use slipway_core::Store;
use slipway_sqlite::testing::TempDb;
use slipway_sqlite::{SqliteOptions, SqliteStore};

async fn setup() -> Option<Arc<dyn Store>> {
    // The directory outlives the case (the store is handed out), so it
    // goes under cargo's scratch directory for tests (target/tmp); the first
    // case removes those that earlier runs left there.
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(|| {
        let hour = std::time::Duration::from_secs(3600);
        let _ = slipway_sqlite::testing::remove_stale(env!("CARGO_TARGET_TMPDIR"), hour);
    });
    let db = TempDb::new_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary directory");
    let store = SqliteStore::open(&db.url(), SqliteOptions::default().event_retention(100))
        .await
        .expect("open a fresh database file");
    db.keep();
    Some(Arc::new(store))
}

slipway_core::store_conformance!(setup);

// The count and the write are one serialized step (the one writer): the quotas
// are exact under concurrent creates.
slipway_core::store_exact_quota_conformance!(setup);

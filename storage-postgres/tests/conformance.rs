//! The store conformance suite against PgStore, one fresh database per case.
//!
//! Needs `SLIPWAY_TEST_POSTGRES_URL` (read at run time); without it every
//! case skips with a notice, unless `SLIPWAY_REQUIRE_BACKENDS=1`.

use std::sync::Arc;

use slipway_core::Store;
use slipway_postgres::{testing, PgOptions, PgStore};

async fn setup() -> Option<Arc<dyn Store>> {
    let admin = testing::admin_url()?;
    let url = match testing::fresh_database(&admin).await {
        Ok(url) => url,
        Err(e) if !testing::require_backends() => {
            eprintln!(
                "notice: PostgreSQL at {} unreachable ({e}); skipping",
                testing::URL_VAR
            );
            return None;
        }
        Err(e) => panic!("PostgreSQL is required but unreachable: {e}"),
    };
    let options = PgOptions::default()
        .event_retention(100)
        .max_connections(20);
    let store = PgStore::connect(&url, options)
        .await
        .expect("connect to the fresh database");
    Some(Arc::new(store))
}

slipway_core::store_conformance!(setup);

// Project quotas are exact through slots, authorization quotas by locking
// the user's row (storage-postgres/src/projects.rs, resources.rs).
slipway_core::store_exact_quota_conformance!(setup);

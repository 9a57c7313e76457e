//! The store conformance suite against a real redis-server.
//!
//! Needs `SLIPWAY_TEST_REDIS_URL` (read at run time; `scripts/test` starts a
//! throwaway redis-server and sets it). Unset: every case skips with a notice,
//! unless `SLIPWAY_REQUIRE_BACKENDS=1`, which makes it a failure. Each case
//! gets a fresh random key prefix, i.e. a fresh empty store.

use std::sync::Arc;

use slipway_core::Store;
use slipway_redis::{RedisOptions, RedisStore};

async fn setup() -> Option<Arc<dyn Store>> {
    let Ok(url) = std::env::var("SLIPWAY_TEST_REDIS_URL") else {
        if std::env::var("SLIPWAY_REQUIRE_BACKENDS").as_deref() == Ok("1") {
            panic!("SLIPWAY_TEST_REDIS_URL is unset but SLIPWAY_REQUIRE_BACKENDS=1");
        }
        eprintln!("notice: SLIPWAY_TEST_REDIS_URL is unset; skipping the Redis conformance case");
        return None;
    };
    let options = RedisOptions {
        prefix: format!("slipway-conformance-{}", uuid::Uuid::new_v4()),
        event_retention: 100,
        ..Default::default()
    };
    let store = RedisStore::connect(&url, options)
        .await
        .expect("connects to SLIPWAY_TEST_REDIS_URL");
    Some(Arc::new(store))
}

slipway_core::store_conformance!(setup);

// The count and the write are one serialized step (a script): the quotas
// are exact under concurrent creates.
slipway_core::store_exact_quota_conformance!(setup);

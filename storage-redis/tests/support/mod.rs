//! A private redis-server for the recovery tests, or a skip notice.

#![allow(dead_code, unreachable_pub)]

pub use slipway_redis::testing::RedisServer;

/// A fresh private redis-server; `None` (with a notice) when redis-server is
/// not installed, a panic then under `SLIPWAY_REQUIRE_BACKENDS=1`.
pub fn start_fresh(test: &str) -> Option<RedisServer> {
    if !RedisServer::available() {
        assert!(
            !slipway_redis::testing::require_backends(),
            "{test}: redis-server is not installed but SLIPWAY_REQUIRE_BACKENDS=1"
        );
        eprintln!("skipped {test}: redis-server is not installed");
        return None;
    }
    Some(RedisServer::start_fresh())
}

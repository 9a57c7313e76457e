//! Shared by the Redis-only suites: private redis-server processes
//! (`slipway_redis::testing::RedisServer`) and the CI switch.

#![allow(dead_code, unreachable_pub)]

pub use slipway_redis::testing::RedisServer;

/// Whether a missing backend must fail the run (CI) rather than skip.
pub fn backends_required() -> bool {
    slipway_redis::testing::require_backends()
}

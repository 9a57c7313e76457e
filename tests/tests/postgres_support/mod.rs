//! Shared by the PostgreSQL-only suites: the test server's URL, fresh
//! databases, and private PostgreSQL instances that a test may kill
//! (`slipway_postgres::testing::PgInstance`).

#![allow(dead_code, unreachable_pub, unused_imports)]

use slipway_postgres::testing;
pub use slipway_postgres::testing::{pg_bin, PgInstance};

/// `SLIPWAY_TEST_POSTGRES_URL` read at run time; `None` (with a notice) when
/// unset, a panic when unset under `SLIPWAY_REQUIRE_BACKENDS=1`.
pub fn admin_url(test: &str) -> Option<String> {
    match std::env::var(testing::URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if testing::require_backends() => {
            panic!(
                "{test}: {} is unset but SLIPWAY_REQUIRE_BACKENDS=1",
                testing::URL_VAR
            )
        }
        _ => {
            eprintln!("skipped {test}: {} is unset", testing::URL_VAR);
            None
        }
    }
}

/// A fresh empty database on the server `admin` names; its URL.
pub async fn fresh_database(admin: &str) -> String {
    testing::fresh_database(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e}"))
}

//! Test helpers (feature `testing`): fresh databases on a test server.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// The environment variable naming the test server's admin URL, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres` (read at run time).
pub const URL_VAR: &str = "SLIPWAY_TEST_POSTGRES_URL";

/// Creates a new, empty database on the server `admin_url` points at and
/// returns the URL of that database (same credentials and parameters).
pub async fn fresh_database(admin_url: &str) -> Result<String, sqlx::Error> {
    let name = format!("slipway_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnectOptions::from_str(admin_url)?.connect().await?;
    // `name` is generated above from hex digits: safe to splice.
    let create = format!(r#"CREATE DATABASE "{name}""#);
    sqlx::query(&create).execute(&mut conn).await?;
    let _ = conn.close().await;
    let mut url = url::Url::parse(admin_url)
        .map_err(|e| sqlx::Error::Configuration(format!("bad database URL: {e}").into()))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// The test server's admin URL from [`URL_VAR`], or `None` (with a notice on
/// stderr) when it is unset — unless `SLIPWAY_REQUIRE_BACKENDS=1`, which
/// turns a missing database into a panic.
pub fn admin_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if require_backends() {
                panic!(
                    "{URL_VAR} is not set but SLIPWAY_REQUIRE_BACKENDS=1: start PostgreSQL \
                     (scripts/test does) and export its URL"
                );
            }
            eprintln!("notice: {URL_VAR} is not set; PostgreSQL tests skip");
            None
        }
    }
}

/// Whether `SLIPWAY_REQUIRE_BACKENDS=1`: missing backends fail tests instead
/// of skipping them.
pub fn require_backends() -> bool {
    std::env::var("SLIPWAY_REQUIRE_BACKENDS").is_ok_and(|v| v == "1")
}

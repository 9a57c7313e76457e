//! Opens the store a database URL names.

use std::sync::Arc;

use slipway_core::Store;

/// Opens the store `url` names; `migrate` applies the embedded migrations
/// of SQLite and PostgreSQL (the other stores have no schema).
pub(crate) async fn open(url: &str, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    // Built without SQLite and PostgreSQL, no store reads it.
    #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
    let _ = migrate;
    let scheme = url.split(':').next().unwrap_or("");
    match scheme {
        "memory" => Ok(Arc::new(slipway_core::MemoryStore::new())),
        #[cfg(feature = "sqlite")]
        "sqlite" => open_sqlite(url, migrate).await,
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => anyhow::bail!(
            "this slipway-server was built without SQLite support; rebuild with \
             `--features sqlite` to use sqlite:// URLs"
        ),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => open_postgres(url, migrate).await,
        #[cfg(not(feature = "postgres"))]
        "postgres" | "postgresql" => anyhow::bail!(
            "this slipway-server was built without PostgreSQL support; rebuild with \
             `--features postgres` to use {scheme}:// URLs"
        ),
        #[cfg(feature = "redis")]
        "redis" | "rediss" => open_redis(url).await,
        #[cfg(not(feature = "redis"))]
        "redis" | "rediss" => anyhow::bail!(
            "this slipway-server was built without Redis support; rebuild with \
             `--features redis` to use {scheme}:// URLs"
        ),
        _ => anyhow::bail!(
            "unsupported database URL scheme `{scheme}`: use sqlite://..., memory:, \
             postgres://... or redis://..."
        ),
    }
}

/// After the server stopped serving: on SQLite, copies the WAL into the
/// database file and empties it, so a stopped server's `slipway.db` holds
/// everything by itself (the store's connections are idle by then).
/// Best effort: a failure is logged, the next start replays the WAL anyway.
pub(crate) async fn after_stop(url: &str) {
    #[cfg(feature = "sqlite")]
    if url.starts_with("sqlite:") {
        if let Err(e) = checkpoint_sqlite(url).await {
            tracing::warn!(error = %e, "could not checkpoint the SQLite WAL on shutdown");
        }
    }
    #[cfg(not(feature = "sqlite"))]
    let _ = url;
}

#[cfg(feature = "sqlite")]
async fn checkpoint_sqlite(url: &str) -> anyhow::Result<()> {
    use slipway_sqlite::sqlx::sqlite::SqliteConnectOptions;
    use slipway_sqlite::sqlx::{ConnectOptions as _, Connection as _};
    let path = slipway_sqlite::path_from_url(url)?;
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await?;
    let result = slipway_sqlite::sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    result?;
    Ok(())
}

/// Opens a `sqlite://` URL with `slipway_sqlite::SqliteStore` (the file is
/// created when missing; one server per file).
#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &str, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    let options = slipway_sqlite::SqliteOptions::default().migrate(migrate);
    let store = slipway_sqlite::SqliteStore::open(url, options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the SQLite store: {e}"))?;
    Ok(Arc::new(store))
}

/// Opens a `postgres://` URL with `slipway_postgres::PgStore` (migrations
/// run on connect; several servers may share the database).
#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    let options = slipway_postgres::PgOptions::default().migrate(migrate);
    let store = slipway_postgres::PgStore::connect(url, options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL store: {e}"))?;
    Ok(Arc::new(store))
}

/// Whether the store `url` names has a schema that migrations create.
pub(crate) fn has_schema(url: &str) -> bool {
    matches!(
        url.split(':').next().unwrap_or(""),
        "sqlite" | "postgres" | "postgresql"
    )
}

/// Opens a `redis://` URL with `slipway_redis::RedisStore`.
///
/// The key prefix comes from an optional `prefix` query parameter
/// (`redis://127.0.0.1:6379/0?prefix=prod`, default `slipway`), removed before
/// the URL reaches redis-rs. Instances with different prefixes share one Redis
/// without seeing each other's data; nodes of one instance use the same prefix.
#[cfg(feature = "redis")]
async fn open_redis(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let (url, prefix) = split_redis_prefix(url)?;
    let options = slipway_redis::RedisOptions {
        prefix: prefix.unwrap_or_else(|| "slipway".into()),
        ..Default::default()
    };
    let store = slipway_redis::RedisStore::connect(&url, options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the Redis store: {e}"))?;
    Ok(Arc::new(store))
}

/// Splits `?prefix=` off a Redis URL: `(url without it, prefix)`.
#[cfg(feature = "redis")]
fn split_redis_prefix(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut prefix = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix("prefix=") {
            Some(p) => {
                let ok = !p.is_empty()
                    && p.len() <= 128
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
                anyhow::ensure!(
                    ok,
                    "the Redis URL's `prefix` must be 1-128 characters of [A-Za-z0-9._:-]"
                );
                prefix = Some(p.to_string());
            }
            None => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, prefix))
}

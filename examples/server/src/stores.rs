//! Opens the store a database URL names.

use std::sync::Arc;

use slipway_core::Store;

pub(crate) struct Opened {
    pub(crate) store: Arc<dyn Store>,
    /// Whether data outlives the process (then a secret is mandatory).
    pub(crate) persistent: bool,
}

pub(crate) async fn open(url: &str) -> anyhow::Result<Opened> {
    let scheme = url.split(':').next().unwrap_or("");
    match scheme {
        "memory" => Ok(Opened {
            store: Arc::new(slipway_core::MemoryStore::new()),
            persistent: false,
        }),
        "postgres" | "postgresql" => anyhow::bail!(
            "this slipway-server was built without PostgreSQL support; rebuild with \
             `--features postgres` to use {scheme}:// URLs"
        ),
        "redis" | "rediss" => anyhow::bail!(
            "this slipway-server was built without Redis support; rebuild with \
             `--features redis` to use {scheme}:// URLs"
        ),
        _ => anyhow::bail!(
            "unsupported database URL scheme `{scheme}`: use memory:, postgres://... or redis://..."
        ),
    }
}

//! `slipway-server`: the standalone Slipway control-plane API server.

use clap::Parser;
use slipway_server::Args;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    slipway_server::run(Args::parse(), |_| {}).await
}

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
    let args = Args::parse();
    match &args.command {
        Some(command) => slipway_server::admin::execute(&args.database_url, command).await,
        None => slipway_server::run(args, |_| {}).await,
    }
}

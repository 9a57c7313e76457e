//! `slipway-server`: the standalone Slipway control-plane API server.

use clap::Parser;
use slipway_server::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    slipway_server::init_logging(args.log_format);
    match &args.command {
        Some(command) => slipway_server::admin::execute(&args, command).await,
        None => slipway_server::run(args, |_| {}).await,
    }
}

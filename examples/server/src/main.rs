//! `slipway-server`: the standalone Slipway control-plane API server.

use clap::Parser;
use slipway_server::{Args, Command, SecretCommand};

/// mimalloc rather than the system allocator: the WebSocket fan-out
/// allocates and frees a few small buffers per delivery, from every worker
/// thread, and spent 10 % less CPU on it (BENCHMARKS.md, twenty-first run).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    slipway_server::init_logging(args.log_format);
    let report = match &args.command {
        Some(Command::Migrate) => slipway_server::commands::migrate(&args).await?,
        Some(Command::Check) => slipway_server::commands::check(&args).await?,
        Some(Command::Secret(SecretCommand::Rotate)) => {
            slipway_server::commands::rotate_secret(&args).await?
        }
        Some(command) => return slipway_server::admin::execute(&args, command).await,
        None => return slipway_server::run(args, |_| {}).await,
    };
    println!("{report}");
    Ok(())
}

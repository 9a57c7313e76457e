//! `slipway-server`: the standalone Slipway control-plane API server.

use clap::Parser;
use slipway_server::{build, serve_on, shutdown_signal, Args};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    args.adapter.ensure_compiled()?;
    let slipway = build(&args, |b| b).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, adapter = ?args.adapter, "slipway-server listening");
    let grace = args.shutdown_grace;
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_on(args.adapter, listener, slipway, async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stopped_tx.send(());
    }));
    let mut server = server;
    tokio::select! {
        res = &mut server => { res??; }
        _ = async { let _ = stopped_rx.await; tokio::time::sleep(grace).await; } => {
            tracing::warn!("grace period over; exiting with requests still in flight");
        }
    }
    Ok(())
}

//! Runs the example application on 127.0.0.1:3000 with two demo users.

use slipway_example_embed::{App, HostUser};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let app = App::new(vec![
        HostUser::new("Ada", "ada@example.com", "correct horse"),
        HostUser::new("Grace", "grace@example.com", "battery staple"),
    ])?;
    app.log_events().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    tracing::info!("listening on http://127.0.0.1:3000 (Slipway under /api)");
    let slipway = app.slipway().clone();
    axum::serve(
        listener,
        app.router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        // axum does not wait for upgraded connections: close Slipway's
        // WebSockets (1001) now, so the in-flight requests are all it waits for.
        tokio::spawn(slipway.shutdown_websockets());
    })
    .await?;
    // Slipway's background tasks (webhook worker, WebSocket checks, the
    // event hub once no subscription follows it) end before we return.
    app.slipway().shutdown().await;
    Ok(())
}

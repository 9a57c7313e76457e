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
    axum::serve(
        listener,
        app.router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}

//! # slipway-axum
//!
//! Mounts the Slipway API into an [`axum::Router`]. Every route is mounted
//! natively (so the host's middleware and nesting apply); unknown paths and
//! wrong methods answer Slipway's JSON errors.
//!
//! ```
//! use axum::{routing::get, Router};
//! use slipway_core::{MemoryStore, Slipway};
//!
//! let slipway = Slipway::builder()
//!     .secret(vec![7u8; 32])
//!     .store(MemoryStore::new())
//!     .build()
//!     .unwrap();
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "the host's own page" }))
//!     .nest("/api", slipway_axum::router(slipway));
//! # let _ = app;
//! ```

use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{on_service, MethodFilter, MethodRouter};
use axum::Router;
use slipway_core::{Slipway, SlipwayService};

/// A router serving every Slipway route. Nest it under any prefix.
pub fn router(slipway: Slipway) -> Router {
    let mut by_path: Vec<(&'static str, MethodRouter)> = Vec::new();
    for route in slipway.routes() {
        let Ok(filter) = MethodFilter::try_from(route.method.clone()) else {
            continue;
        };
        let mr = on_service(filter, route.service);
        match by_path.iter_mut().find(|(p, _)| *p == route.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(mr),
            None => by_path.push((route.path, mr)),
        }
    }
    let mut router = Router::new();
    for (path, mr) in by_path {
        router = router.route(path, mr.fallback(fallback));
    }
    router.fallback(fallback)
}

async fn fallback(req: Request) -> impl IntoResponse {
    SlipwayService::fallback_response(req.method(), req.uri().path())
}

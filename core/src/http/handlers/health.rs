//! `GET /health`.

use std::time::Duration;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::{json_response, ApiError, ApiRequest, ErrorBody, Response};
use crate::Slipway;

/// Health of the instance.
#[derive(Serialize, Deserialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    #[schema(example = "ok")]
    pub(crate) status: String,
    /// `ok` when the store answered.
    #[schema(example = "ok")]
    pub(crate) store: String,
}

#[utoipa::path(
    get, path = "/health", tag = "operations", operation_id = "health",
    responses(
        (status = 200, description = "Serving, store reachable", body = Health),
        (status = 503, description = "The store is unreachable", body = ErrorBody),
    )
)]
pub(crate) async fn health(slipway: Slipway, _req: ApiRequest) -> Result<Response, ApiError> {
    slipway.health().check().await?;
    Ok(json_response(
        StatusCode::OK,
        &Health {
            status: "ok".into(),
            store: "ok".into(),
        },
    ))
}

/// Liveness of the process.
#[derive(Serialize, Deserialize, ToSchema)]
pub(crate) struct Liveness {
    /// `ok`.
    #[schema(example = "ok")]
    pub(crate) status: String,
}

/// `GET /health/live`: the process serves requests. Never touches the store.
#[utoipa::path(
    get, path = "/health/live", tag = "operations", operation_id = "healthLive",
    responses((status = 200, description = "The process serves requests (the store is not asked)", body = Liveness))
)]
pub(crate) async fn live(_slipway: Slipway, _req: ApiRequest) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &Liveness {
            status: "ok".into(),
        },
    ))
}

/// `GET /health/ready`: the store answers and its schema is migrated.
#[utoipa::path(
    get, path = "/health/ready", tag = "operations", operation_id = "healthReady",
    responses(
        (status = 200, description = "Ready: the store answers and its schema is migrated", body = Health),
        (status = 503, description = "Not ready: the store is unreachable or not migrated", body = ErrorBody),
    )
)]
pub(crate) async fn ready(slipway: Slipway, _req: ApiRequest) -> Result<Response, ApiError> {
    slipway.health().ready().await.map_err(not_ready)?;
    Ok(json_response(
        StatusCode::OK,
        &Health {
            status: "ok".into(),
            store: "ok".into(),
        },
    ))
}

/// 503 for a store that is not ready; the cause goes to the log only.
fn not_ready(cause: impl Into<crate::error::BoxError>) -> ApiError {
    let cause = cause.into();
    tracing::warn!(error = %cause, "not ready");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Not ready: the store is unreachable or its schema is not migrated",
    )
    .with_retry_after(Duration::from_secs(1))
}

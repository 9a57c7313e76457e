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
    get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Serving, store reachable", body = Health),
        (status = 503, description = "The store is unreachable", body = ErrorBody),
    )
)]
pub(crate) async fn health(slipway: Slipway, _req: ApiRequest) -> Result<Response, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), slipway.store().ping()).await {
        Ok(Ok(())) => Ok(json_response(
            StatusCode::OK,
            &Health {
                status: "ok".into(),
                store: "ok".into(),
            },
        )),
        Ok(Err(e)) => Err(ApiError::unavailable(e)),
        Err(_) => Err(ApiError::unavailable("store ping timed out")),
    }
}

//! `POST|GET /tokens`, `DELETE /tokens/{id}`: API tokens for scripts and CI.

use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::json::strings;
use crate::http::{json_response, no_content, ApiError, ApiRequest, ErrorBody, Response};
use crate::model::{ApiTokenView, ProjectId, Scope};
use crate::services::NewApiToken;
use crate::Slipway;

/// Body of `POST /tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateToken {
    /// Name, 1-100 characters.
    #[schema(min_length = 1, max_length = 100, example = "ci deploys")]
    name: String,
    /// What it may do; at least one scope.
    #[schema(value_type = Vec<Scope>, min_items = 1)]
    scopes: serde_json::Value,
    /// Lifetime in seconds; absent: never expires.
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 316224000)]
    expires_in: Option<serde_json::Value>,
    /// Reach only these projects of yours (and their networks and events).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, max_items = 100)]
    project_ids: Option<serde_json::Value>,
}

/// A created API token with its secret (shown once).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedToken {
    #[serde(flatten)]
    view: ApiTokenView,
    /// `slw_…`: send it as `Authorization: Bearer slw_…`. Shown only here;
    /// only its SHA-256 is stored.
    token: String,
}

#[utoipa::path(
    post, path = "/tokens", tag = "tokens", operation_id = "createToken",
    security(("bearer" = [])),
    request_body = CreateToken,
    responses(
        (status = 201, description = "Created; the token is shown this once", body = CreatedToken),
        (status = 400, description = "Invalid input (an unknown scope, a project that is not yours)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Called with an API token (tokens cannot manage tokens), or the caller keeps max_api_tokens_per_user API tokens already (the message names the limit)", body = ErrorBody),
    )
)]
pub(crate) async fn create(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: CreateToken = req.json()?;
    let expires_in = match &body.expires_in {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ApiError::bad_request("expiresIn must be a whole number of seconds from 1 to 316224000")
        })?),
    };
    let project_ids = match &body.project_ids {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(strings("projectIds", v)?),
    };
    let input = NewApiToken {
        name: body.name,
        scopes: strings("scopes", &body.scopes)?,
        expires_in,
        project_ids: project_ids.map(|ids| ids.into_iter().map(ProjectId::from).collect()),
    };
    let created = slipway.tokens().create(&actor, input).await?;
    let mut resp = json_response(
        StatusCode::CREATED,
        &CreatedToken {
            view: ApiTokenView::from(&created.token),
            token: created.secret,
        },
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[utoipa::path(
    get, path = "/tokens", tag = "tokens", operation_id = "listTokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's API tokens, oldest first (without secrets)", body = [ApiTokenView]),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Called with an API token", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let tokens = slipway.tokens().list(&actor).await?;
    let views: Vec<ApiTokenView> = tokens.iter().map(ApiTokenView::from).collect();
    Ok(json_response(StatusCode::OK, &views))
}

#[utoipa::path(
    delete, path = "/tokens/{id}", tag = "tokens", operation_id = "deleteToken",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "API token id")),
    responses(
        (status = 204, description = "Revoked: it stops working at once, on every node"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Called with an API token", body = ErrorBody),
        (status = 404, description = "No such token of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn delete(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    slipway.tokens().delete(&actor, &req.id("id")).await?;
    Ok(no_content())
}

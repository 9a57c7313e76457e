//! `POST|GET /webhooks`, `GET|DELETE /webhooks/{id}`,
//! `GET /webhooks/{id}/deliveries`: signed webhooks.

use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::json::strings;
use crate::http::{json_response, no_content, ApiError, ApiRequest, ErrorBody, Response};
use crate::model::{ProjectId, WebhookDelivery, WebhookView};
use crate::services::NewWebhook;
use crate::Slipway;

/// Body of `POST /webhooks`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateWebhook {
    /// `https://` (or `http://`) URL the events are POSTed to; its host must
    /// resolve to public addresses unless the operator allows private ones.
    #[schema(max_length = 2048, example = "https://ci.example.com/slipway")]
    url: String,
    /// The events to receive: a non-empty subset of `["project.update"]`.
    #[schema(value_type = Vec<String>, min_items = 1, example = json!(["project.update"]))]
    events: serde_json::Value,
    /// Receive only events of these projects of yours; absent: all of them.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, max_items = 100)]
    project_ids: Option<serde_json::Value>,
}

/// A created webhook with its signing secret (shown once).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedWebhookBody {
    #[serde(flatten)]
    view: WebhookView,
    /// `whsec_…`: the HMAC-SHA256 key of `X-Slipway-Signature`. Shown only
    /// here; stored encrypted.
    secret: String,
}

#[utoipa::path(
    post, path = "/webhooks", tag = "webhooks", operation_id = "createWebhook",
    security(("bearer" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = CreatedWebhookBody),
        (status = 400, description = "Invalid input (a URL that is not http(s), a private address, an unknown event, a project that is not yours)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Called with an API token", body = ErrorBody),
    )
)]
pub(crate) async fn create(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: CreateWebhook = req.json()?;
    let project_ids = match &body.project_ids {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(strings("projectIds", v)?),
    };
    let mut input = NewWebhook::new(body.url);
    input.events = strings("events", &body.events)?;
    input.project_ids = project_ids.map(|ids| ids.into_iter().map(ProjectId::from).collect());
    let created = slipway.webhooks().create(&actor, input).await?;
    let mut resp = json_response(
        StatusCode::CREATED,
        &CreatedWebhookBody {
            view: WebhookView::from(&created.webhook),
            secret: created.secret,
        },
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[utoipa::path(
    get, path = "/webhooks", tag = "webhooks", operation_id = "listWebhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's webhooks, oldest first (without secrets)", body = [WebhookView]),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Called with an API token", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let hooks = slipway.webhooks().list(&actor).await?;
    let views: Vec<WebhookView> = hooks.iter().map(WebhookView::from).collect();
    Ok(json_response(StatusCode::OK, &views))
}

#[utoipa::path(
    get, path = "/webhooks/{id}", tag = "webhooks", operation_id = "getWebhook",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook (without its secret)", body = WebhookView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Called with an API token", body = ErrorBody),
        (status = 404, description = "No such webhook of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn get(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let hook = slipway.webhooks().get(&actor, &req.id("id")).await?;
    Ok(json_response(StatusCode::OK, &WebhookView::from(&hook)))
}

#[utoipa::path(
    delete, path = "/webhooks/{id}", tag = "webhooks", operation_id = "deleteWebhook",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted; deliveries stop"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Called with an API token", body = ErrorBody),
        (status = 404, description = "No such webhook of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn delete(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    slipway.webhooks().delete(&actor, &req.id("id")).await?;
    Ok(no_content())
}

#[utoipa::path(
    get, path = "/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "listWebhookDeliveries",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook's recent deliveries (the last 50), newest first", body = [WebhookDelivery]),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Called with an API token", body = ErrorBody),
        (status = 404, description = "No such webhook of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn deliveries(
    slipway: Slipway,
    mut req: ApiRequest,
) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let list = slipway.webhooks().deliveries(&actor, &req.id("id")).await?;
    Ok(json_response(StatusCode::OK, &list))
}

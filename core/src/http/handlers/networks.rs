//! `POST /networks`, `GET /networks?projectId=`, `GET|PATCH|DELETE /networks/{id}`.
//!
//! A network connection routes a hostname to a port of one of the caller's
//! projects. The hostname is unique instance-wide and must equal or sit under
//! a registered domain. Each write is a project UPDATE event.

use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::json::{nullable, port};
use crate::http::{json_response, no_content, ApiError, ApiRequest, ErrorBody, Response};
use crate::model::{Network, ProjectId};
use crate::services::{NetworkChanges, NewNetwork};
use crate::Slipway;

/// Body of `POST /networks`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateNetwork {
    /// Hostname (lowercased, trailing dot removed) equal to or under a
    /// registered domain; unique instance-wide.
    #[schema(
        example = "app.example.com",
        max_length = 254,
        pattern = "^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$"
    )]
    domain: String,
    /// Port, an integer 1-65535.
    #[schema(value_type = u16, minimum = 1, maximum = 65535, example = 8080)]
    port: serde_json::Value,
    /// One of the caller's projects.
    project_id: String,
}

/// Body of `PATCH /networks/{id}`: `domain` and/or `port`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateNetwork {
    /// New hostname.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "www.example.com", max_length = 254, pattern = "^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$")]
    domain: Option<Option<String>>,
    /// New port, an integer 1-65535.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u16>, minimum = 1, maximum = 65535)]
    port: Option<Option<serde_json::Value>>,
    /// Must be the connection's current project if given: connections do not move.
    #[serde(default)]
    project_id: Option<String>,
}

/// Normalizes `host` and finds the registered domain covering it (the
/// longest one that equals it or is a parent of it); returns (host, domain id).
#[utoipa::path(
    post, path = "/networks", tag = "networks", operation_id = "createNetwork",
    security(("bearer" = [])),
    request_body = CreateNetwork,
    responses(
        (status = 201, description = "Created", body = Network),
        (status = 400, description = "Invalid input, or no registered domain covers the hostname", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The project has max_networks_per_project connections already (the message names the limit)", body = ErrorBody),
        (status = 404, description = "No such project of the caller", body = ErrorBody),
        (status = 409, description = "The hostname is already in use", body = ErrorBody),
    )
)]
pub(crate) async fn create(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: CreateNetwork = req.json()?;
    let input = NewNetwork {
        port: port(&body.port)?,
        domain: body.domain,
        project_id: body.project_id.into(),
    };
    let network = slipway.networks().create(&actor, input).await?;
    Ok(json_response(StatusCode::CREATED, &network))
}

#[utoipa::path(
    get, path = "/networks", tag = "networks", operation_id = "listNetworks",
    security(("bearer" = [])),
    params(
        ("projectId" = Option<String>, Query, description = "Only the connections of this project of the caller"),
        crate::http::handlers::PageParams,
    ),
    responses(
        (status = 200, description = "The caller's network connections, oldest first", body = [Network],
            headers(("Link" = String, description = "`<networks?limit=N&after=ID>; rel=\"next\"` when more items follow"))),
        (status = 400, description = "`limit` is not 1-1000, or `after` names no connection of the list", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such project of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let project_id = req.query("projectId");
    let page = req.page()?;
    let networks = slipway
        .networks()
        .list_page(&actor, project_id.map(ProjectId::from).as_ref(), &page)
        .await?;
    Ok(req.page_response(&page, &networks.items, networks.next_after.as_deref()))
}

#[utoipa::path(
    get, path = "/networks/{id}", tag = "networks", operation_id = "getNetwork",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Network connection id")),
    responses(
        (status = 200, description = "The network connection", body = Network),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such connection on the caller's projects", body = ErrorBody),
    )
)]
pub(crate) async fn get(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let network = slipway.networks().get(&actor, &req.id("id")).await?;
    Ok(json_response(StatusCode::OK, &network))
}

#[utoipa::path(
    patch, path = "/networks/{id}", tag = "networks", operation_id = "updateNetwork",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Network connection id")),
    request_body = UpdateNetwork,
    responses(
        (status = 200, description = "The updated connection", body = Network),
        (status = 400, description = "Invalid input, or no registered domain covers the hostname", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such connection on the caller's projects", body = ErrorBody),
        (status = 409, description = "The hostname is already in use", body = ErrorBody),
    )
)]
pub(crate) async fn update(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: UpdateNetwork = req.json()?;
    let port = match &body.port {
        None => None,
        Some(None) => return Err(ApiError::bad_request("port cannot be null")),
        Some(Some(p)) => Some(port(p)?),
    };
    let domain = match body.domain {
        None => None,
        Some(None) => return Err(ApiError::bad_request("domain cannot be null")),
        Some(Some(d)) => Some(d),
    };
    let changes = NetworkChanges {
        domain,
        port,
        project_id: body.project_id.map(ProjectId::from),
    };
    let network = slipway
        .networks()
        .update(&actor, &req.id("id"), changes)
        .await?;
    Ok(json_response(StatusCode::OK, &network))
}

#[utoipa::path(
    delete, path = "/networks/{id}", tag = "networks", operation_id = "deleteNetwork",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Network connection id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such connection on the caller's projects", body = ErrorBody),
    )
)]
pub(crate) async fn delete(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    slipway.networks().delete(&actor, &req.id("id")).await?;
    Ok(no_content())
}

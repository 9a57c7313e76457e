//! `POST /networks`, `GET /networks?projectId=`, `GET|PATCH|DELETE /networks/{id}`.
//!
//! A network connection routes a hostname to a port of one of the caller's
//! projects. The hostname is unique instance-wide and must equal or sit under
//! a registered domain. Each write is a project UPDATE event.

use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::http::{json_response, no_content, ApiRequest, Response};
use crate::model::{Network, NetworkPatch};
use crate::{validate, Slipway};

/// Body of `POST /networks`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateNetwork {
    /// Hostname (lowercased, trailing dot removed) equal to or under a
    /// registered domain; unique instance-wide.
    #[schema(example = "app.example.com")]
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
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<String>, example = "www.example.com")]
    domain: Option<Option<String>>,
    /// New port, an integer 1-65535.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<u16>, minimum = 1, maximum = 65535)]
    port: Option<Option<serde_json::Value>>,
    /// Must be the connection's current project if given: connections do not move.
    #[serde(default)]
    project_id: Option<String>,
}

/// Normalizes `host` and finds the registered domain covering it (the
/// longest one that equals it or is a parent of it); returns (host, domain id).
async fn covering_domain(slipway: &Slipway, host: &str) -> Result<(String, String), ApiError> {
    let host = validate::domain_name("domain", host)?;
    let domains = slipway
        .store()
        .list_domains()
        .await
        .map_err(|e| ApiError::from_store(e, "Domain"))?;
    let best = domains
        .iter()
        .filter(|d| host == d.domain || host.ends_with(&format!(".{}", d.domain)))
        .max_by_key(|d| d.domain.len());
    match best {
        Some(d) => Ok((host, d.id.clone())),
        None => Err(ApiError::bad_request(format!(
            "domain {host} is not covered by any registered domain; an admin must register it \
             (or a parent domain) with POST /domains first"
        ))),
    }
}

fn network_error(e: crate::StoreError) -> ApiError {
    match e {
        crate::StoreError::Conflict { field } if field == "domain" => ApiError::conflict(
            "domain is already used by another network connection (or its registered domain was \
             just removed); choose another domain",
        ),
        e => ApiError::from_store(e, "Network connection"),
    }
}

#[utoipa::path(
    post, path = "/networks", tag = "networks",
    security(("bearer" = [])),
    request_body = CreateNetwork,
    responses(
        (status = 201, description = "Created", body = Network),
        (status = 400, description = "Invalid input, or no registered domain covers the hostname", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such project of the caller", body = ErrorBody),
        (status = 409, description = "The hostname is already in use", body = ErrorBody),
    )
)]
pub(crate) async fn create(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    let body: CreateNetwork = req.json()?;
    let port = validate::port(&body.port)?;
    if body.project_id.is_empty() {
        return Err(ApiError::bad_request("projectId must not be empty"));
    }
    // The project must be the caller's: 404 before anything about domains.
    slipway
        .store()
        .get_project(&user.id, &body.project_id)
        .await
        .map_err(|e| ApiError::from_store(e, "Project"))?;
    let (domain, domain_id) = covering_domain(&slipway, &body.domain).await?;
    let network = Network {
        id: uuid::Uuid::new_v4().to_string(),
        domain,
        port,
        project_id: body.project_id,
        domain_id,
        created_at: chrono::Utc::now(),
    };
    let network = match slipway.store().create_network(&user.id, network).await {
        Ok(n) => n,
        Err(crate::StoreError::NotFound) => return Err(ApiError::not_found("Project not found")),
        Err(e) => return Err(network_error(e)),
    };
    Ok(json_response(StatusCode::CREATED, &network))
}

#[utoipa::path(
    get, path = "/networks", tag = "networks",
    security(("bearer" = [])),
    params(("projectId" = Option<String>, Query, description = "Only the connections of this project of the caller")),
    responses(
        (status = 200, description = "The caller's network connections, oldest first", body = [Network]),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such project of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    let project_id = req.query("projectId");
    if let Some(pid) = &project_id {
        slipway
            .store()
            .get_project(&user.id, pid)
            .await
            .map_err(|e| ApiError::from_store(e, "Project"))?;
    }
    let networks = slipway
        .store()
        .list_networks(&user.id, project_id.as_deref())
        .await
        .map_err(|e| ApiError::from_store(e, "Network connection"))?;
    Ok(json_response(StatusCode::OK, &networks))
}

#[utoipa::path(
    get, path = "/networks/{id}", tag = "networks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Network connection id")),
    responses(
        (status = 200, description = "The network connection", body = Network),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such connection on the caller's projects", body = ErrorBody),
    )
)]
pub(crate) async fn get(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    let network = slipway
        .store()
        .get_network(&user.id, req.param("id"))
        .await
        .map_err(|e| ApiError::from_store(e, "Network connection"))?;
    Ok(json_response(StatusCode::OK, &network))
}

#[utoipa::path(
    patch, path = "/networks/{id}", tag = "networks",
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
pub(crate) async fn update(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    let body: UpdateNetwork = req.json()?;
    let port = match &body.port {
        None => None,
        Some(None) => return Err(ApiError::bad_request("port cannot be null")),
        Some(Some(p)) => Some(validate::port(p)?),
    };
    let domain = match body.domain {
        None => None,
        Some(None) => return Err(ApiError::bad_request("domain cannot be null")),
        Some(Some(d)) => Some(d),
    };
    let id = req.param("id");
    let current = slipway
        .store()
        .get_network(&user.id, id)
        .await
        .map_err(|e| ApiError::from_store(e, "Network connection"))?;
    if let Some(pid) = &body.project_id {
        if *pid != current.project_id {
            return Err(ApiError::bad_request(
                "projectId cannot be changed; delete the connection and create it on the other project",
            ));
        }
    }
    let domain = match &domain {
        Some(d) => Some(covering_domain(&slipway, d).await?),
        None => None,
    };
    if domain.is_none() && port.is_none() {
        return Ok(json_response(StatusCode::OK, &current));
    }
    let network = slipway
        .store()
        .update_network(&user.id, id, NetworkPatch { domain, port })
        .await
        .map_err(network_error)?;
    Ok(json_response(StatusCode::OK, &network))
}

#[utoipa::path(
    delete, path = "/networks/{id}", tag = "networks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Network connection id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such connection on the caller's projects", body = ErrorBody),
    )
)]
pub(crate) async fn delete(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    slipway
        .store()
        .delete_network(&user.id, req.param("id"))
        .await
        .map_err(|e| ApiError::from_store(e, "Network connection"))?;
    Ok(no_content())
}

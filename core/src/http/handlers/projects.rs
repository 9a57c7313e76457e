//! `POST /project`, `GET /project`, `GET|PATCH|DELETE /project/{id}`.
//!
//! Projects belong to the user who created them; another user's project is a
//! 404 on every verb. Every write appends its `project.update` event in the
//! store's same atomic step.

use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::json::nullable;
use crate::http::{json_response, no_content, ApiError, ApiRequest, ErrorBody, Response};
use crate::model::Project;
use crate::services::{NewProject, ProjectChanges};
use crate::Slipway;

/// Body of `POST /project`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateProject {
    /// Name, 1-100 characters.
    #[schema(min_length = 1, max_length = 100, example = "Blog")]
    name: String,
    /// Description, at most 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    description: Option<String>,
    /// Absolute path, 1-255 characters, without `.` or `..` segments;
    /// repeated and trailing slashes are removed, and the normalized path is
    /// unique among all projects when set.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^/",
        example = "/srv/blog"
    )]
    path: Option<String>,
    /// Opaque source reference (1-128 of `[A-Za-z0-9._:-]`), unique.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9._:-]+$",
        example = "src-1"
    )]
    source_id: String,
    /// Opaque VM reference (1-128 of `[A-Za-z0-9._:-]`), unique.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9._:-]+$",
        example = "vm-1"
    )]
    vm_id: String,
}

/// Body of `PATCH /project/{id}`: any subset of the fields; `null` clears
/// `description` or `path`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateProject {
    /// New name, 1-100 characters.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    name: Option<Option<String>>,
    /// New description; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 1000)]
    description: Option<Option<String>>,
    /// New absolute path (normalized as on create); `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255, pattern = "^/")]
    path: Option<Option<String>>,
    /// New source reference (1-128 of `[A-Za-z0-9._:-]`).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:-]+$")]
    source_id: Option<Option<String>>,
    /// New VM reference (1-128 of `[A-Za-z0-9._:-]`).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:-]+$")]
    vm_id: Option<Option<String>>,
}

/// A required field sent as `null`.
fn required(field: &str, v: Option<Option<String>>) -> Result<Option<String>, ApiError> {
    match v {
        None => Ok(None),
        Some(Some(s)) => Ok(Some(s)),
        Some(None) => Err(ApiError::bad_request(format!(
            "{field} cannot be null; it is required"
        ))),
    }
}

#[utoipa::path(
    post, path = "/project", tag = "projects", operation_id = "createProject",
    security(("bearer" = [])),
    request_body = CreateProject,
    responses(
        (status = 201, description = "Created", body = Project),
        (status = 400, description = "Invalid input; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The caller owns max_projects_per_user projects already (the message names the limit)", body = ErrorBody),
        (status = 409, description = "sourceId, vmId or path (after normalization) is already in use", body = ErrorBody),
    )
)]
pub(crate) async fn create(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: CreateProject = req.json()?;
    let input = NewProject {
        name: body.name,
        description: body.description,
        path: body.path,
        source_id: body.source_id,
        vm_id: body.vm_id,
    };
    let project = slipway.projects().create(&actor, input).await?;
    Ok(json_response(StatusCode::CREATED, &project))
}

#[utoipa::path(
    get, path = "/project", tag = "projects", operation_id = "listProjects",
    security(("bearer" = [])),
    params(crate::http::handlers::PageParams),
    responses(
        (status = 200, description = "The caller's projects, oldest first, with their networks", body = [Project],
            headers(("Link" = String, description = "`<project?limit=N&after=ID>; rel=\"next\"` when more items follow"))),
        (status = 400, description = "`limit` is not 1-1000, or `after` names no project of the list", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let page = req.page()?;
    let projects = slipway.projects().list_page(&actor, &page).await?;
    Ok(req.page_response(&page, &projects.items, projects.next_after.as_deref()))
}

#[utoipa::path(
    get, path = "/project/{id}", tag = "projects", operation_id = "getProject",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project with its networks", body = Project),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such project of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn get(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let project = slipway.projects().get(&actor, &req.id("id")).await?;
    Ok(json_response(StatusCode::OK, &project))
}

#[utoipa::path(
    patch, path = "/project/{id}", tag = "projects", operation_id = "updateProject",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    request_body = UpdateProject,
    responses(
        (status = 200, description = "The updated project", body = Project),
        (status = 400, description = "Invalid input; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such project of the caller", body = ErrorBody),
        (status = 409, description = "sourceId, vmId or path is already in use", body = ErrorBody),
    )
)]
pub(crate) async fn update(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: UpdateProject = req.json()?;
    let changes = ProjectChanges {
        name: required("name", body.name)?,
        description: body.description,
        path: body.path,
        source_id: required("sourceId", body.source_id)?,
        vm_id: required("vmId", body.vm_id)?,
    };
    let project = slipway
        .projects()
        .update(&actor, &req.id("id"), changes)
        .await?;
    Ok(json_response(StatusCode::OK, &project))
}

#[utoipa::path(
    delete, path = "/project/{id}", tag = "projects", operation_id = "deleteProject",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses(
        (status = 204, description = "Deleted, with its network connections"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such project of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn delete(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    slipway.projects().delete(&actor, &req.id("id")).await?;
    Ok(no_content())
}

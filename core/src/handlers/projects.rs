//! `POST /project`, `GET /project`, `GET|PATCH|DELETE /project/{id}`.
//!
//! Projects belong to the user who created them; another user's project is a
//! 404 on every verb. Every write appends its `project.update` event in the
//! store's same atomic step.

use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::http::{json_response, no_content, ApiRequest, Response};
use crate::model::{Project, ProjectPatch};
use crate::{validate, Slipway, StoreError};

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
    /// Path, 1-255 characters, unique among all projects when set.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255, example = "/srv/blog")]
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
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    name: Option<Option<String>>,
    /// New description; `null` clears it.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<String>, max_length = 1000)]
    description: Option<Option<String>>,
    /// New path; `null` clears it.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    path: Option<Option<String>>,
    /// New source reference.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128)]
    source_id: Option<Option<String>>,
    /// New VM reference.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128)]
    vm_id: Option<Option<String>>,
}

fn check_name(name: &str) -> Result<(), ApiError> {
    validate::text("name", name, 1, 100)
}
fn check_description(d: &str) -> Result<(), ApiError> {
    validate::text("description", d, 0, 1000)
}
fn check_path(p: &str) -> Result<(), ApiError> {
    validate::text("path", p, 1, 255)
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
    post, path = "/project", tag = "projects",
    security(("bearer" = [])),
    request_body = CreateProject,
    responses(
        (status = 201, description = "Created", body = Project),
        (status = 400, description = "Invalid input; the message names the field", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 409, description = "sourceId, vmId or path is already in use", body = ErrorBody),
    )
)]
pub(crate) async fn create(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    let body: CreateProject = req.json()?;
    check_name(&body.name)?;
    if let Some(d) = &body.description {
        check_description(d)?;
    }
    if let Some(p) = &body.path {
        check_path(p)?;
    }
    validate::reference("sourceId", &body.source_id)?;
    validate::reference("vmId", &body.vm_id)?;
    let now = chrono::Utc::now();
    let project = Project {
        id: uuid::Uuid::new_v4().to_string(),
        owner_id: user.id,
        name: body.name,
        description: body.description,
        path: body.path,
        source_id: body.source_id,
        vm_id: body.vm_id,
        networks: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    let project = slipway
        .store()
        .create_project(project)
        .await
        .map_err(|e| ApiError::from_store(e, "Project"))?;
    Ok(json_response(StatusCode::CREATED, &project))
}

#[utoipa::path(
    get, path = "/project", tag = "projects",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's projects, oldest first, with their networks", body = [Project]),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    let projects = slipway
        .store()
        .list_projects(&user.id)
        .await
        .map_err(|e| ApiError::from_store(e, "Project"))?;
    Ok(json_response(StatusCode::OK, &projects))
}

#[utoipa::path(
    get, path = "/project/{id}", tag = "projects",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project with its networks", body = Project),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such project of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn get(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    // One store read on the common path: a project found under the token's
    // user id proves that user exists, since deleting a user deletes their
    // projects in the same step (`Store::delete_user`). Only when no
    // project is found is the user read, to tell a 401 (the account is
    // gone) from a 404; the answers are those of `current_user` followed
    // by `get_project`.
    let claims = super::current_claims(&slipway, &req)?;
    let store = slipway.store();
    match store.get_project(&claims.sub, req.param("id")).await {
        Ok(project) => Ok(json_response(StatusCode::OK, &project)),
        Err(StoreError::NotFound) => {
            super::token_user(store.get_user(&claims.sub).await)?;
            Err(ApiError::from_store(StoreError::NotFound, "Project"))
        }
        Err(e) => Err(ApiError::from_store(e, "Project")),
    }
}

#[utoipa::path(
    patch, path = "/project/{id}", tag = "projects",
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
pub(crate) async fn update(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    let body: UpdateProject = req.json()?;
    let name = required("name", body.name)?;
    let source_id = required("sourceId", body.source_id)?;
    let vm_id = required("vmId", body.vm_id)?;
    if let Some(n) = &name {
        check_name(n)?;
    }
    if let Some(Some(d)) = &body.description {
        check_description(d)?;
    }
    if let Some(Some(p)) = &body.path {
        check_path(p)?;
    }
    if let Some(s) = &source_id {
        validate::reference("sourceId", s)?;
    }
    if let Some(v) = &vm_id {
        validate::reference("vmId", v)?;
    }
    let id = req.param("id");
    let empty = name.is_none()
        && body.description.is_none()
        && body.path.is_none()
        && source_id.is_none()
        && vm_id.is_none();
    let store = slipway.store();
    let project = if empty {
        // Nothing to change: no write, no event.
        store.get_project(&user.id, id).await
    } else {
        let patch = ProjectPatch {
            name,
            description: body.description,
            path: body.path,
            source_id,
            vm_id,
            updated_at: chrono::Utc::now(),
        };
        store.update_project(&user.id, id, patch).await
    }
    .map_err(|e| ApiError::from_store(e, "Project"))?;
    Ok(json_response(StatusCode::OK, &project))
}

#[utoipa::path(
    delete, path = "/project/{id}", tag = "projects",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses(
        (status = 204, description = "Deleted, with its network connections"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such project of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn delete(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    slipway
        .store()
        .delete_project(&user.id, req.param("id"))
        .await
        .map_err(|e| ApiError::from_store(e, "Project"))?;
    Ok(no_content())
}

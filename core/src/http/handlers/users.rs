//! `GET /users`, `GET|PATCH|DELETE /users/{id}` and `POST|GET /invitations`,
//! `DELETE /invitations/{id}`: administrators only.

use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::json::nullable;
use crate::http::{json_response, no_content, ApiError, ApiRequest, ErrorBody, Response};
use crate::model::{InvitationView, ManagedUserView, Role};
use crate::services::{NewInvitation, UserChanges};
use crate::Slipway;

/// Body of `PATCH /users/{id}`: `role` and/or `disabled`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UpdateUser {
    /// New role; a change ends the user's older tokens.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Role>)]
    role: Option<Option<String>>,
    /// Disable (the user cannot sign in; tokens and WebSockets end) or
    /// re-enable.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    disabled: Option<Option<serde_json::Value>>,
}

fn role(value: &str) -> Result<Role, ApiError> {
    Role::parse(value).ok_or_else(|| ApiError::bad_request("role must be \"admin\" or \"member\""))
}

#[utoipa::path(
    get, path = "/users", tag = "users", operation_id = "listUsers",
    security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many users; without it, all of them"),
        ("after" = Option<String>, Query, description = "Start after the user with this id (the last of the previous page)"),
    ),
    responses(
        (status = 200, description = "Users in creation order", body = [ManagedUserView],
            headers(("Link" = String, description = "`<users?limit=N&after=ID>; rel=\"next\"` when more items follow"))),
        (status = 400, description = "limit outside 1-1000, or after not a user id", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let page_req = req.page()?;
    let page = slipway.users().list(&actor, page_req.clone()).await?;
    let views: Vec<ManagedUserView> = page.items.iter().map(ManagedUserView::from).collect();
    Ok(req.page_response(&page_req, &views, page.next_after.as_deref()))
}

#[utoipa::path(
    get, path = "/users/{id}", tag = "users", operation_id = "getUser",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = ManagedUserView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub(crate) async fn get(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let user = slipway.users().get(&actor, &req.id("id")).await?;
    Ok(json_response(StatusCode::OK, &ManagedUserView::from(&user)))
}

#[utoipa::path(
    patch, path = "/users/{id}", tag = "users", operation_id = "updateUser",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The updated user", body = ManagedUserView),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The last active admin cannot be demoted or disabled", body = ErrorBody),
    )
)]
pub(crate) async fn update(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: UpdateUser = req.json()?;
    let mut changes = UserChanges::default();
    match body.role {
        Some(None) => {
            return Err(ApiError::bad_request(
                "role must be \"admin\" or \"member\"",
            ))
        }
        Some(Some(r)) => changes.role = Some(role(&r)?),
        None => {}
    }
    match body.disabled {
        Some(Some(serde_json::Value::Bool(d))) => changes.disabled = Some(d),
        Some(_) => return Err(ApiError::bad_request("disabled must be true or false")),
        None => {}
    }
    let user = slipway
        .users()
        .update(&actor, &req.id("id"), changes)
        .await?;
    Ok(json_response(StatusCode::OK, &ManagedUserView::from(&user)))
}

#[utoipa::path(
    delete, path = "/users/{id}", tag = "users", operation_id = "deleteUser",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted with everything the user owned (a DELETE event per project; their WebSockets close)"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The last active admin cannot be deleted", body = ErrorBody),
    )
)]
pub(crate) async fn delete(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    slipway.users().delete(&actor, &req.id("id")).await?;
    Ok(no_content())
}

/// Body of `POST /invitations`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateInvitation {
    /// The email to invite.
    #[schema(format = "email", example = "grace@example.com")]
    email: String,
    /// The role the account gets.
    #[schema(value_type = Role)]
    role: String,
}

/// A created invitation with its token (shown once).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedInvitation {
    #[serde(flatten)]
    invitation: InvitationView,
    /// The token to give the invited person; they sign up with
    /// `POST /auth/signup {…, "invitationToken": token}`. Shown only here.
    token: String,
}

#[utoipa::path(
    post, path = "/invitations", tag = "users", operation_id = "createInvitation",
    security(("bearer" = [])),
    request_body = CreateInvitation,
    responses(
        (status = 201, description = "Created; the token is shown this once", body = CreatedInvitation),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "The email has an account or a pending invitation", body = ErrorBody),
    )
)]
pub(crate) async fn create_invitation(
    slipway: Slipway,
    req: ApiRequest,
) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: CreateInvitation = req.json()?;
    let input = NewInvitation::new(body.email, role(&body.role)?);
    let invited = slipway.invitations().create(&actor, input).await?;
    let mut resp = json_response(
        StatusCode::CREATED,
        &CreatedInvitation {
            invitation: InvitationView::from(&invited.invitation),
            token: invited.token,
        },
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[utoipa::path(
    get, path = "/invitations", tag = "users", operation_id = "listInvitations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Pending invitations, oldest first (without tokens)", body = [InvitationView]),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
pub(crate) async fn list_invitations(
    slipway: Slipway,
    req: ApiRequest,
) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let list = slipway.invitations().list(&actor).await?;
    let views: Vec<InvitationView> = list.iter().map(InvitationView::from).collect();
    Ok(json_response(StatusCode::OK, &views))
}

#[utoipa::path(
    delete, path = "/invitations/{id}", tag = "users", operation_id = "deleteInvitation",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such invitation", body = ErrorBody),
    )
)]
pub(crate) async fn delete_invitation(
    slipway: Slipway,
    mut req: ApiRequest,
) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    slipway.invitations().delete(&actor, &req.id("id")).await?;
    Ok(no_content())
}

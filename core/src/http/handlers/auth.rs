//! `POST /auth/signup`, `POST /auth/signin`, `GET|PATCH /auth/me`,
//! `POST /auth/password`, `POST /auth/signout-all`.

use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::SecretString;
use crate::http::json::nullable;
use crate::http::{json_response, no_content, ApiError, ApiRequest, ErrorBody, Response};
use crate::model::UserView;
use crate::services::{MeChanges, PasswordChange, Signin, Signup};
use crate::Slipway;

/// Body of `POST /auth/signup`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignupRequest {
    /// Display name, 1-100 characters.
    #[schema(min_length = 1, max_length = 100, example = "Ada Lovelace")]
    pub(crate) name: String,
    /// Email address, stored lowercase.
    #[schema(format = "email", example = "ada@example.com")]
    pub(crate) email: String,
    /// Password, 8-256 characters.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 256)]
    pub(crate) password: SecretString,
    /// An invitation's token (`POST /invitations`): the account gets the
    /// invited role whatever the sign-up policy; `email` must be the invited
    /// address. Works once.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, min_length = 1, max_length = 256)]
    pub(crate) invitation_token: Option<SecretString>,
}

/// Body of `PATCH /auth/me`: `name` and/or `email`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UpdateMe {
    /// New display name, 1-100 characters.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    name: Option<Option<String>>,
    /// New email, unique.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "email")]
    email: Option<Option<String>>,
}

/// Body of `POST /auth/password`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangePassword {
    /// The current password.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 256)]
    current_password: SecretString,
    /// The new password, 8-256 characters.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 256)]
    new_password: SecretString,
}

/// Body of `POST /auth/signin`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SigninRequest {
    /// Email address (case does not matter), at most 254 characters.
    #[schema(example = "ada@example.com", min_length = 1, max_length = 254)]
    pub(crate) email: String,
    /// Password, 1-256 characters.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 256)]
    pub(crate) password: SecretString,
}

/// An access token.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenResponse {
    /// A JWT for `Authorization: Bearer`.
    pub(crate) access_token: String,
}

/// A token response; never cached.
pub(crate) fn token_response(status: StatusCode, token: String) -> Response {
    let mut resp = json_response(
        status,
        &TokenResponse {
            access_token: token,
        },
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[utoipa::path(
    post, path = "/auth/signup", tag = "auth", operation_id = "signUp",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Signed up; the first user becomes admin (with an invitation: the invited role)", body = TokenResponse),
        (status = 400, description = "Invalid input, or an invitation token that was used, revoked or has expired", body = ErrorBody),
        (status = 403, description = "Sign-up closed by policy", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this client address; see Retry-After", body = ErrorBody),
        (status = 503, description = "The password-hash queue is full (see Retry-After), or the store is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn signup(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let body: SignupRequest = req.json()?;
    let input = Signup {
        name: body.name,
        email: body.email,
        password: body.password,
        invitation_token: body.invitation_token,
        client: req.client.map(|c| c.0),
    };
    let signed_in = slipway.accounts().signup(input).await?;
    Ok(token_response(StatusCode::CREATED, signed_in.access_token))
}

#[utoipa::path(
    post, path = "/auth/signin", tag = "auth", operation_id = "signIn",
    request_body = SigninRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 403, description = "The account is disabled (the same answer for a right and a wrong password)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts for this email (from this address, or from all), or from this client address; see Retry-After", body = ErrorBody),
        (status = 503, description = "The password-hash queue is full (see Retry-After), or the store is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn signin(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let body: SigninRequest = req.json()?;
    let input = Signin {
        email: body.email,
        password: body.password,
        client: req.client.map(|c| c.0),
    };
    let signed_in = slipway.accounts().signin(input).await?;
    Ok(token_response(StatusCode::OK, signed_in.access_token))
}

#[utoipa::path(
    get, path = "/auth/me", tag = "auth", operation_id = "getMe",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = UserView),
        (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
    )
)]
pub(crate) async fn me(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let user = slipway.accounts().me(&actor).await?;
    Ok(json_response(StatusCode::OK, &UserView::from(&user)))
}

#[utoipa::path(
    patch, path = "/auth/me", tag = "auth",
    security(("bearer" = [])),
    request_body = UpdateMe,
    responses(
        (status = 200, description = "The updated user", body = UserView),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
    )
)]
pub(crate) async fn update_me(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: UpdateMe = req.json()?;
    let mut changes = MeChanges::default();
    match body.name {
        Some(None) => return Err(ApiError::bad_request("name must be a string")),
        Some(Some(name)) => changes.name = Some(name),
        None => {}
    }
    match body.email {
        Some(None) => return Err(ApiError::bad_request("email must be a string")),
        Some(Some(email)) => changes.email = Some(email),
        None => {}
    }
    let user = slipway.accounts().update_me(&actor, changes).await?;
    Ok(json_response(StatusCode::OK, &UserView::from(&user)))
}

#[utoipa::path(
    post, path = "/auth/password", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 200, description = "Password changed; a fresh token. Every token issued before stops working and the user's other WebSockets close with 4001", body = TokenResponse),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or invalid token, or a wrong current password (counted like a failed sign-in)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody),
    )
)]
pub(crate) async fn change_password(
    slipway: Slipway,
    req: ApiRequest,
) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: ChangePassword = req.json()?;
    let input = PasswordChange {
        current: body.current_password,
        new: body.new_password,
        client: req.client.map(|c| c.0),
    };
    let signed_in = slipway.accounts().change_password(&actor, input).await?;
    Ok(token_response(StatusCode::OK, signed_in.access_token))
}

#[utoipa::path(
    post, path = "/auth/signout-all", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every token of the caller issued before now stops working; their WebSockets close with 4001"),
        (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
    )
)]
pub(crate) async fn signout_all(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    slipway.accounts().signout_all(&actor).await?;
    Ok(no_content())
}

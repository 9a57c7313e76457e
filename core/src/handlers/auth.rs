//! `POST /auth/signup`, `POST /auth/signin`, `GET /auth/me`.

use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::SignupPolicy;
use crate::crypto::SecretString;
use crate::error::{ApiError, ErrorBody, StoreError};
use crate::http::{json_response, ApiRequest, Response};
use crate::model::{NewUser, User, UserView};
use crate::{validate, Slipway};

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

fn password_rule(password: &SecretString) -> Result<(), ApiError> {
    let n = password.expose().chars().count();
    if !(8..=256).contains(&n) {
        return Err(ApiError::bad_request(
            "password must be between 8 and 256 characters long",
        ));
    }
    Ok(())
}

/// Creates a user under the signup policy (shared with GitHub sign-in).
pub(crate) async fn create_user(slipway: &Slipway, user: NewUser) -> Result<User, ApiError> {
    let first_only = match slipway.config().signup {
        SignupPolicy::Open => false,
        SignupPolicy::FirstUserOnly => true,
        SignupPolicy::Closed => {
            return Err(ApiError::forbidden("Sign-up is closed on this instance"))
        }
    };
    match slipway.store().create_user(user, first_only).await {
        Ok(u) => Ok(u),
        Err(StoreError::Conflict { field }) if field == "signup" => Err(ApiError::forbidden(
            "Sign-up is closed on this instance: it already has its first user",
        )),
        Err(StoreError::Conflict { field }) if field == "email" => Err(ApiError::conflict(
            "email is already registered; sign in instead",
        )),
        Err(e) => Err(ApiError::from_store(e, "User")),
    }
}

#[utoipa::path(
    post, path = "/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Signed up; the first user becomes admin", body = TokenResponse),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 403, description = "Sign-up closed by policy", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    )
)]
pub(crate) async fn signup(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let body: SignupRequest = req.json()?;
    validate::text("name", &body.name, 1, 100)?;
    let email = validate::email(&body.email)?;
    password_rule(&body.password)?;
    if slipway.config().signup == SignupPolicy::Closed {
        return Err(ApiError::forbidden("Sign-up is closed on this instance"));
    }
    if slipway
        .store()
        .find_user_by_email(&email)
        .await
        .map_err(|e| ApiError::from_store(e, "User"))?
        .is_some()
    {
        return Err(ApiError::conflict(
            "email is already registered; sign in instead",
        ));
    }
    let hash = slipway
        .inner
        .hasher
        .hash(body.password.expose().to_string())
        .await?;
    let user = create_user(
        &slipway,
        NewUser {
            id: uuid::Uuid::new_v4().to_string(),
            name: body.name.trim().to_string(),
            email,
            password_hash: Some(hash),
            github_id: None,
            created_at: chrono::Utc::now(),
        },
    )
    .await?;
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "user signed up");
    Ok(token_response(
        StatusCode::CREATED,
        slipway.issue_token(&user, None),
    ))
}

#[utoipa::path(
    post, path = "/auth/signin", tag = "auth",
    request_body = SigninRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 429, description = "Too many failed attempts for this email or from this client address; see Retry-After", body = ErrorBody),
    )
)]
pub(crate) async fn signin(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let body: SigninRequest = req.json()?;
    let email = body.email.trim().to_lowercase();
    if email.is_empty() || email.chars().count() > 254 {
        return Err(ApiError::bad_request("email must be a valid email address"));
    }
    if body.password.expose().is_empty() || body.password.expose().chars().count() > 256 {
        return Err(ApiError::bad_request(
            "password must be between 1 and 256 characters long",
        ));
    }
    let limiter = &slipway.inner.signin_limiter;
    let by_addr = &slipway.inner.signin_addr_limiter;
    let addr = req.client.map(|c| c.0.to_string());
    if let Some(wait) = addr.as_deref().and_then(|a| by_addr.check(a)) {
        return Err(ApiError::too_many_requests(
            "Too many failed sign-in attempts from this address; wait before trying again",
            wait,
        ));
    }
    if let Some(wait) = limiter.check(&email) {
        return Err(ApiError::too_many_requests(
            "Too many failed sign-in attempts for this email; wait before trying again",
            wait,
        ));
    }
    let user = slipway
        .store()
        .find_user_by_email(&email)
        .await
        .map_err(|e| ApiError::from_store(e, "User"))?;
    let phc = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = slipway
        .inner
        .hasher
        .verify(body.password.expose().to_string(), phc)
        .await?;
    match user {
        Some(user) if ok => {
            limiter.succeed(&email);
            Ok(token_response(
                StatusCode::OK,
                slipway.issue_token(&user, None),
            ))
        }
        _ => {
            limiter.fail(&email);
            // A success does not reset the address: one valid account must
            // not let an address keep guessing the passwords of others.
            if let Some(a) = &addr {
                by_addr.fail(a);
            }
            Err(ApiError::unauthorized("Invalid email or password"))
        }
    }
}

#[utoipa::path(
    get, path = "/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = UserView),
        (status = 401, description = "Missing, invalid or expired token", body = ErrorBody),
    )
)]
pub(crate) async fn me(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    Ok(json_response(StatusCode::OK, &UserView::from(&user)))
}

//! `POST /auth/signup`, `POST /auth/signin`, `GET /auth/me`.

use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::SecretString;
use crate::http::{json_response, ApiError, ApiRequest, ErrorBody, Response};
use crate::model::UserView;
use crate::services::{Signin, Signup};
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
        (status = 201, description = "Signed up; the first user becomes admin", body = TokenResponse),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 403, description = "Sign-up closed by policy", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    )
)]
pub(crate) async fn signup(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let body: SignupRequest = req.json()?;
    let input = Signup {
        name: body.name,
        email: body.email,
        password: body.password,
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
        (status = 429, description = "Too many failed attempts for this email or from this client address; see Retry-After", body = ErrorBody),
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

//! `POST /auth/github`: sign in (or up) with a GitHub OAuth code.
//!
//! The user is found by GitHub account id, else by the account's **primary
//! verified** email (and then linked), else created under the signup policy.
//! A GitHub account that is not linked yet and whose primary email is missing
//! or unverified is refused with 400: linking through it could hand someone
//! else's Slipway account to its holder, and creating an account with it
//! would let anyone claim an address they do not own.

use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{token_response, TokenResponse};
use crate::crypto::SecretString;
use crate::http::{ApiError, ApiRequest, ErrorBody, Response};
use crate::Slipway;

/// Body of `POST /auth/github`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct GitHubSigninRequest {
    /// The `code` GitHub appended to the front end's callback URL.
    #[schema(value_type = String, example = "e2f2d0c3a1b4c5d6e7f8")]
    pub(crate) code: SecretString,
}

#[utoipa::path(
    post, path = "/auth/github", tag = "auth", operation_id = "signInWithGitHub",
    request_body = GitHubSigninRequest,
    responses(
        (status = 200, description = "Signed in; the user was found by GitHub id, linked through the verified primary email, or created", body = TokenResponse),
        (status = 400, description = "Invalid input, GitHub not configured, code rejected by GitHub (its error name in the message), or no verified primary email", body = ErrorBody),
        (status = 403, description = "A new account would be needed but sign-up is closed", body = ErrorBody),
        (status = 409, description = "The email's account is linked to another GitHub account", body = ErrorBody),
        (status = 502, description = "GitHub unreachable or answered badly", body = ErrorBody),
        (status = 504, description = "GitHub did not answer in time", body = ErrorBody),
    )
)]
pub(crate) async fn github_signin(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let body: GitHubSigninRequest = req.json()?;
    let signed_in = slipway.accounts().github_signin(&body.code).await?;
    Ok(token_response(StatusCode::OK, signed_in.access_token))
}

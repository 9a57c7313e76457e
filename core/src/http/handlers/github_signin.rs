//! `POST /auth/github`: sign in (or up) with a GitHub OAuth code;
//! `POST /auth/github/link`: a signed-in user links their GitHub account.
//!
//! The user is found by GitHub account id. An account that holds the GitHub
//! account's **primary verified** email and a password, but no GitHub link,
//! answers 409: its owner signs in with the password and links GitHub
//! explicitly (a GitHub account holding the same address proves nothing
//! about the password account). An account without a password (created by
//! the host) is linked through that email; with no account, one is created
//! under the signup policy. A GitHub account that is not linked yet and
//! whose primary email is missing or unverified is refused with 400.

use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{token_response, TokenResponse};
use crate::crypto::SecretString;
use crate::http::{json_response, ApiError, ApiRequest, ErrorBody, Response};
use crate::model::UserView;
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
        (status = 200, description = "Signed in; the user was found by GitHub id, created, or (an account without a password) linked through the verified primary email", body = TokenResponse),
        (status = 400, description = "Invalid input, GitHub not configured, code rejected by GitHub (its error name in the message), or no verified primary email", body = ErrorBody),
        (status = 403, description = "A new account would be needed but sign-up is closed, or the account is disabled", body = ErrorBody),
        (status = 409, description = "The email's account has a password and is not linked to GitHub (\"an account with this email exists: sign in with your password, then link GitHub\" with POST /auth/github/link), or is linked to another GitHub account", body = ErrorBody),
        (status = 429, description = "Too many GitHub sign-ins from this client address; see Retry-After", body = ErrorBody),
        (status = 502, description = "GitHub unreachable or answered badly", body = ErrorBody),
        (status = 504, description = "GitHub did not answer in time", body = ErrorBody),
    )
)]
pub(crate) async fn github_signin(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let body: GitHubSigninRequest = req.json()?;
    let client = req.client.map(|c| c.0);
    let signed_in = slipway
        .accounts()
        .github_signin_from(&body.code, client)
        .await?;
    Ok(token_response(StatusCode::OK, signed_in.access_token))
}

#[utoipa::path(
    post, path = "/auth/github/link", tag = "auth",
    security(("bearer" = [])),
    request_body = GitHubSigninRequest,
    responses(
        (status = 200, description = "The signed-in user, now linked to the code's GitHub account (its token kept as an oauth authorization)", body = UserView),
        (status = 400, description = "Invalid input, GitHub not configured, or code rejected by GitHub (its error name in the message)", body = ErrorBody),
        (status = 409, description = "That GitHub account is linked to another user, or this user is linked to another GitHub account", body = ErrorBody),
        (status = 502, description = "GitHub unreachable or answered badly", body = ErrorBody),
        (status = 504, description = "GitHub did not answer in time", body = ErrorBody),
    )
)]
pub(crate) async fn github_link(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: GitHubSigninRequest = req.json()?;
    let user = slipway.accounts().link_github(&actor, &body.code).await?;
    Ok(json_response(StatusCode::OK, &UserView::from(&user)))
}

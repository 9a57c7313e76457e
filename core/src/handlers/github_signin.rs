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

use super::auth::{create_user, token_response, TokenResponse};
use super::authorizations_github::{github_token_info, seal_secret};
use crate::crypto::SecretString;
use crate::error::{ApiError, ErrorBody, StoreError};
use crate::github::{self, GitHubUser, TokenScopes};
use crate::http::{ApiRequest, Response};
use crate::model::{Authorization, AuthorizationType, NewUser, User};
use crate::{validate, Slipway};

/// Body of `POST /auth/github`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct GitHubSigninRequest {
    /// The `code` GitHub appended to the front end's callback URL.
    #[schema(value_type = String, example = "e2f2d0c3a1b4c5d6e7f8")]
    pub(crate) code: SecretString,
}

/// Validates an OAuth code submitted in `field`.
pub(crate) fn check_code(field: &str, code: &SecretString) -> Result<(), ApiError> {
    let c = code.expose();
    if c.is_empty() || c.len() > 256 {
        return Err(ApiError::bad_request(format!(
            "{field} must be between 1 and 256 characters long"
        )));
    }
    if !c.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(format!(
            "{field} may only contain printable ASCII characters: pass the code exactly as GitHub gave it"
        )));
    }
    Ok(())
}

#[utoipa::path(
    post, path = "/auth/github", tag = "auth",
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
    check_code("code", &body.code)?;
    let app = github::app::load(&slipway)
        .await?
        .ok_or_else(github::not_configured)?;
    let gh = &slipway.inner.github;
    let token = gh
        .exchange_code(&app, &body.code)
        .await
        .map_err(|e| e.for_code("code"))?;
    let (gh_user, scopes) = gh.user(&token).await.map_err(|e| e.upstream())?;
    let user = find_or_create(&slipway, &token, &gh_user).await?;
    keep_token(&slipway, &user, &gh_user, &scopes, &token).await?;
    tracing::info!(user_id = %user.id, github_id = gh_user.id, "signed in with GitHub");
    Ok(token_response(
        StatusCode::OK,
        slipway.issue_token(&user, None),
    ))
}

fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { field } if field == "githubId" => {
            ApiError::conflict("This GitHub account is already linked to another Slipway account")
        }
        other => ApiError::from_store(other, "User"),
    }
}

async fn find_or_create(
    slipway: &Slipway,
    token: &SecretString,
    gh_user: &GitHubUser,
) -> Result<User, ApiError> {
    let store = slipway.store();
    if let Some(user) = store
        .find_user_by_github_id(gh_user.id)
        .await
        .map_err(store_err)?
    {
        return Ok(user);
    }
    let emails = slipway
        .inner
        .github
        .emails(token)
        .await
        .map_err(|e| e.upstream())?
        .ok_or_else(|| {
            ApiError::bad_request(
                "Slipway could not read the GitHub account's email addresses: the GitHub sign-in \
                 must request the user:email scope",
            )
        })?;
    let email =
        match github::primary_verified(&emails) {
            Ok(Some(email)) => email,
            Ok(None) => return Err(ApiError::bad_request(
                "The GitHub account has no primary email address; add and verify one on GitHub, \
                 then sign in again",
            )),
            Err(_unverified) => return Err(ApiError::bad_request(
                "The GitHub account's primary email address is not verified; verify it on GitHub \
                 (Settings > Emails), then sign in again",
            )),
        };
    let email = validate::email(email).map_err(|_| {
        ApiError::bad_request(
            "The GitHub account's primary email address is not one Slipway accepts; change it on \
             GitHub, then sign in again",
        )
    })?;
    if let Some(existing) = store.find_user_by_email(&email).await.map_err(store_err)? {
        if existing.github_id.is_some() {
            return Err(ApiError::conflict(
                "email belongs to a Slipway account linked to another GitHub account; sign in \
                 with that GitHub account or with a password",
            ));
        }
        let linked = store
            .link_github(&existing.id, gh_user.id)
            .await
            .map_err(store_err)?;
        tracing::info!(user_id = %linked.id, github_id = gh_user.id, "GitHub account linked through its verified email");
        return Ok(linked);
    }
    let name = gh_user
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty() && validate::text("name", n, 1, 100).is_ok())
        .unwrap_or(&gh_user.login);
    let name: String = name.chars().take(100).collect();
    let user = create_user(
        slipway,
        NewUser {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            email,
            password_hash: None,
            github_id: Some(gh_user.id),
            created_at: chrono::Utc::now(),
        },
    )
    .await?;
    tracing::info!(user_id = %user.id, role = user.role.as_str(), github_id = gh_user.id, "user signed up with GitHub");
    Ok(user)
}

/// Keeps the GitHub token as the user's `oauth` authorization named after the
/// GitHub login; a later sign-in replaces it instead of adding another.
async fn keep_token(
    slipway: &Slipway,
    user: &User,
    gh_user: &GitHubUser,
    scopes: &TokenScopes,
    token: &SecretString,
) -> Result<(), ApiError> {
    let name: String = gh_user.login.chars().take(100).collect();
    let name = if name.trim().is_empty() {
        format!("github-{}", gh_user.id)
    } else {
        name
    };
    slipway
        .store()
        .upsert_authorization(Authorization {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            name,
            kind: AuthorizationType::Oauth,
            secret: seal_secret(slipway, &user.id, token),
            info: github_token_info(gh_user, scopes),
            created_at: chrono::Utc::now(),
        })
        .await
        .map_err(|e| ApiError::from_store(e, "Authorization"))?;
    Ok(())
}

//! GitHub-backed authorizations (`oauth`, `personal_access_token`).
//!
//! `prepare` checks the submitted data with GitHub and returns the secret to
//! seal plus the non-secret facts to keep in `Authorization.info`:
//! `{"login", "githubId", "scopes", "tokenType", "verified"}`. `scopes` is the
//! list from `X-OAuth-Scopes` for classic tokens and `null` for fine-grained
//! ones (GitHub sends no such header for them).

use crate::crypto::SecretString;
use crate::error::ApiError;
use crate::github::{self, GitHubError, GitHubUser, TokenScopes};
use crate::model::{AuthorizationType, Sealed, User};
use crate::Slipway;

/// The scope a classic token needs to clone and deploy private repositories.
const REQUIRED_SCOPE: &str = "repo";

/// Seals a GitHub token of `user_id` for storage, with the same context as
/// `POST /authorization` (bound to the owner), so a ciphertext cannot
/// be moved to another user's record.
pub(crate) fn seal_secret(slipway: &Slipway, user_id: &str, secret: &SecretString) -> Sealed {
    slipway.inner.keyring.seal(
        &super::authorizations::seal_context(user_id),
        secret.expose().as_bytes(),
    )
}

/// The non-secret facts kept about a checked GitHub token.
pub(crate) fn github_token_info(user: &GitHubUser, scopes: &TokenScopes) -> serde_json::Value {
    serde_json::json!({
        "login": user.login,
        "githubId": user.id,
        "scopes": scopes.to_json(),
        "tokenType": match scopes {
            TokenScopes::Classic(_) => "classic",
            TokenScopes::FineGrained => "fine_grained",
        },
        "verified": true,
    })
}

/// A string field of `data`, as a secret; 400 naming `data.<name>` otherwise.
fn secret_field(data: &serde_json::Value, name: &str) -> Result<SecretString, ApiError> {
    let obj = data
        .as_object()
        .ok_or_else(|| ApiError::bad_request("data must be a JSON object"))?;
    match obj.get(name) {
        None | Some(serde_json::Value::Null) => {
            Err(ApiError::bad_request(format!("data.{name} is required")))
        }
        Some(serde_json::Value::String(s)) => {
            let field = format!("data.{name}");
            if s.is_empty() || s.len() > 1024 {
                return Err(ApiError::bad_request(format!(
                    "{field} must be between 1 and 1024 characters long"
                )));
            }
            if !s.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ApiError::bad_request(format!(
                    "{field} may only contain printable ASCII characters without spaces"
                )));
            }
            Ok(SecretString::new(s.as_str()))
        }
        Some(_) => Err(ApiError::bad_request(format!(
            "data.{name} is invalid: expected a string"
        ))),
    }
}

/// Checks `data` of an `oauth` or `personal_access_token` authorization and
/// returns the secret to store and the non-secret `info` object.
pub(crate) async fn prepare(
    slipway: &Slipway,
    user: &User,
    kind: AuthorizationType,
    data: &serde_json::Value,
) -> Result<(SecretString, serde_json::Value), ApiError> {
    match kind {
        AuthorizationType::Oauth => oauth(slipway, user, data).await,
        AuthorizationType::PersonalAccessToken => personal_access_token(slipway, user, data).await,
        AuthorizationType::DeployKey => Err(ApiError::internal(
            "deploy keys are not GitHub-checked authorizations",
        )),
    }
}

async fn oauth(
    slipway: &Slipway,
    user: &User,
    data: &serde_json::Value,
) -> Result<(SecretString, serde_json::Value), ApiError> {
    let code = secret_field(data, "code")?;
    let app = github::app::load(slipway)
        .await?
        .ok_or_else(github::not_configured)?;
    let gh = &slipway.inner.github;
    let token = gh
        .exchange_code(&app, &code)
        .await
        .map_err(|e| e.for_code("data.code"))?;
    let (gh_user, scopes) = gh.user(&token).await.map_err(GitHubError::upstream)?;
    tracing::info!(user_id = %user.id, github_id = gh_user.id, "GitHub OAuth code exchanged for an authorization");
    Ok((token, github_token_info(&gh_user, &scopes)))
}

async fn personal_access_token(
    slipway: &Slipway,
    user: &User,
    data: &serde_json::Value,
) -> Result<(SecretString, serde_json::Value), ApiError> {
    let token = secret_field(data, "token")?;
    if !slipway.config().verify_personal_access_tokens {
        return Ok((token, serde_json::json!({ "verified": false })));
    }
    let (gh_user, scopes) = match slipway.inner.github.user(&token).await {
        Ok(found) => found,
        Err(GitHubError::BadToken) => return Err(ApiError::bad_request(
            "data.token was rejected by GitHub (Bad credentials): it is wrong, expired or revoked",
        )),
        Err(e) => return Err(e.upstream()),
    };
    if let TokenScopes::Classic(list) = &scopes {
        if !list.iter().any(|s| s == REQUIRED_SCOPE) {
            return Err(ApiError::bad_request(format!(
                "data.token is a classic personal access token without the `{REQUIRED_SCOPE}` \
                 scope; create one with the `{REQUIRED_SCOPE}` scope, or use a fine-grained token"
            )));
        }
    }
    tracing::info!(user_id = %user.id, github_id = gh_user.id, "personal access token checked with GitHub");
    Ok((token, github_token_info(&gh_user, &scopes)))
}

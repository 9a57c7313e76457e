//! The OAuth code exchange, with the oauth2 crate.
//!
//! GitHub's token endpoint answers errors with **200** and a JSON body
//! `{"error": "bad_verification_code", "error_description": ...}`, which the
//! oauth2 crate reports as a parse failure; that case is recognised here.

use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{AuthType, AuthorizationCode, ClientId, ClientSecret, RequestTokenError};
use oauth2::{TokenResponse, TokenUrl};
use serde::Deserialize;

use super::{GitHub, GitHubApp, GitHubError};
use crate::crypto::SecretString;

/// GitHub's OAuth error body.
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl GitHub {
    /// Exchanges an authorization code for an access token with the OAuth app
    /// `app`. Each code works once.
    pub(crate) async fn exchange_code(
        &self,
        app: &GitHubApp,
        code: &SecretString,
    ) -> Result<SecretString, GitHubError> {
        let token_url = TokenUrl::from_url(self.token_url());
        let client = BasicClient::new(ClientId::new(app.client_id.clone()))
            .set_client_secret(ClientSecret::new(app.client_secret.expose().to_string()))
            // GitHub documents the credentials as form fields.
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url);
        // An owned client per call keeps the future `Send` for any lifetime.
        let gh = self.clone();
        let http = move |req: oauth2::HttpRequest| {
            let gh = gh.clone();
            async move { gh.send_oauth(req).await }
        };
        let result = client
            .exchange_code(AuthorizationCode::new(code.expose().to_string()))
            .request_async(&http)
            .await;
        match result {
            Ok(token) => {
                let secret = SecretString::new(token.access_token().secret().as_str());
                if secret.expose().is_empty() {
                    return Err(GitHubError::Malformed("empty access_token".into()));
                }
                Ok(secret)
            }
            Err(RequestTokenError::ServerResponse(e)) => Err(rejected(&e)),
            Err(RequestTokenError::Request(e)) => Err(e),
            Err(RequestTokenError::Parse(err, body)) => {
                // GitHub's 200-with-error answer, or garbage. The body may hold
                // a token, so only the parse error's path is kept.
                match serde_json::from_slice::<OAuthError>(&body) {
                    Ok(e) => Err(GitHubError::Rejected {
                        error: e.error,
                        description: e.error_description,
                    }),
                    Err(_) => Err(GitHubError::Malformed(format!(
                        "token endpoint reply is not an OAuth token response (at `{}`)",
                        err.path()
                    ))),
                }
            }
            Err(RequestTokenError::Other(why)) => Err(GitHubError::Malformed(why)),
        }
    }
}

fn rejected(e: &BasicErrorResponse) -> GitHubError {
    // The error type serializes to its wire name (`invalid_grant`, or the
    // extension string GitHub sent).
    let error = serde_json::to_value(e.error())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown_error".to_string());
    GitHubError::Rejected {
        error,
        description: e.error_description().cloned(),
    }
}

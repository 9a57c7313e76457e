//! `GET /configuration` (public) and `POST /configuration/github` (admin).

use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::SecretString;
use crate::error::{ApiError, ErrorBody};
use crate::github::{self, GitHubApp, GitHubError};
use crate::http::{json_response, ApiRequest, Response};
use crate::Slipway;

/// Body of `POST /configuration/github`: a GitHub OAuth app's credentials
/// (field names spelled as GitHub and the seed API spell them).
#[derive(Deserialize, ToSchema)]
pub(crate) struct GitHubConfigRequest {
    /// The OAuth app's client ID.
    #[schema(example = "Ov23liAbCdEfGhIjKlMn", min_length = 1, max_length = 100)]
    pub(crate) client_id: String,
    /// The OAuth app's client secret. Write-only: never returned.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 200)]
    pub(crate) client_secret: SecretString,
}

/// What a sign-in page needs to know about GitHub.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GitHubConfigView {
    /// Whether an OAuth app is configured (offer "Sign in with GitHub").
    pub(crate) enabled: bool,
    /// The OAuth app's client ID, `null` when not configured.
    pub(crate) client_id: Option<String>,
    /// Where to send the browser: `<authorizeUrl>?client_id=...&scope=...&state=...`.
    #[schema(example = "https://github.com/login/oauth/authorize")]
    pub(crate) authorize_url: String,
}

/// The public instance configuration.
#[derive(Serialize, Deserialize, ToSchema)]
pub(crate) struct ConfigurationView {
    /// GitHub sign-in.
    pub(crate) github: GitHubConfigView,
}

fn view(slipway: &Slipway, client_id: Option<String>) -> ConfigurationView {
    ConfigurationView {
        github: GitHubConfigView {
            enabled: client_id.is_some(),
            client_id,
            authorize_url: slipway.inner.github.authorize_url().to_string(),
        },
    }
}

/// A credential field: 1..=max printable ASCII characters, no spaces.
fn credential(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be between 1 and {max} characters long"
        )));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(format!(
            "{field} may only contain printable ASCII characters without spaces; copy it again \
             from the OAuth app's settings"
        )));
    }
    Ok(())
}

/// The code sent to check credentials; GitHub answers `bad_verification_code`
/// to it when the client id and secret are right.
const PROBE_CODE: &str = "slipway-credential-check";

#[utoipa::path(
    get, path = "/configuration", tag = "configuration",
    responses(
        (status = 200, description = "Public configuration; never contains the client secret", body = ConfigurationView),
    )
)]
pub(crate) async fn get_configuration(
    slipway: Slipway,
    _req: ApiRequest,
) -> Result<Response, ApiError> {
    let client_id = github::app::client_id(&slipway).await?;
    Ok(json_response(StatusCode::OK, &view(&slipway, client_id)))
}

#[utoipa::path(
    post, path = "/configuration/github", tag = "configuration",
    security(("bearer" = [])),
    request_body = GitHubConfigRequest,
    responses(
        (status = 200, description = "Credentials accepted by GitHub and stored (replacing earlier ones)", body = ConfigurationView),
        (status = 400, description = "Invalid input, or GitHub rejected the credentials", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 502, description = "GitHub unreachable or answered badly", body = ErrorBody),
        (status = 504, description = "GitHub did not answer in time", body = ErrorBody),
    )
)]
pub(crate) async fn configure_github(
    slipway: Slipway,
    req: ApiRequest,
) -> Result<Response, ApiError> {
    let admin = super::current_admin(&slipway, &req).await?;
    let body: GitHubConfigRequest = req.json()?;
    let client_id = body.client_id.trim().to_string();
    credential("client_id", &client_id, 100)?;
    credential("client_secret", body.client_secret.expose(), 200)?;
    let app = GitHubApp {
        client_id,
        client_secret: body.client_secret,
    };
    let probe = SecretString::new(PROBE_CODE);
    match slipway.inner.github.exchange_code(&app, &probe).await {
        Err(GitHubError::Rejected { error, .. }) if error == github::BAD_CODE => {}
        // A token for a made-up code: the credentials evidently work.
        Ok(_token) => {}
        Err(GitHubError::Rejected { error, .. }) if error == github::INCORRECT_CREDENTIALS => {
            return Err(ApiError::bad_request(
                "client_id and client_secret were rejected by GitHub \
                 (incorrect_client_credentials); copy both again from the OAuth app's settings page",
            ));
        }
        Err(GitHubError::Rejected { error, .. }) => {
            return Err(ApiError::bad_request(format!(
                "GitHub did not accept client_id and client_secret ({}); check the OAuth app's settings",
                github::clean(&error)
            )));
        }
        Err(e) => return Err(e.upstream()),
    }
    github::app::save(&slipway, &app, &admin.id).await?;
    tracing::info!(user_id = %admin.id, client_id = %app.client_id, "GitHub OAuth app configured");
    Ok(json_response(
        StatusCode::OK,
        &view(&slipway, Some(app.client_id.clone())),
    ))
}

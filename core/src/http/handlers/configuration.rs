//! `GET /configuration` (public) and `POST /configuration/github` (admin).

use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::SecretString;
use crate::http::{json_response, ApiError, ApiRequest, ErrorBody, Response};
use crate::services::{GitHubSettings, PublicConfiguration};
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

fn view(config: PublicConfiguration) -> ConfigurationView {
    ConfigurationView {
        github: GitHubConfigView {
            enabled: config.github_client_id.is_some(),
            client_id: config.github_client_id,
            authorize_url: config.github_authorize_url,
        },
    }
}

#[utoipa::path(
    get, path = "/configuration", tag = "configuration", operation_id = "getConfiguration",
    responses(
        (status = 200, description = "Public configuration; never contains the client secret", body = ConfigurationView),
    )
)]
pub(crate) async fn get_configuration(
    slipway: Slipway,
    _req: ApiRequest,
) -> Result<Response, ApiError> {
    let config = slipway.github().public().await?;
    Ok(json_response(StatusCode::OK, &view(config)))
}

#[utoipa::path(
    post, path = "/configuration/github", tag = "configuration", operation_id = "configureGitHub",
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
    let actor = req.principal(&slipway).await?;
    let body: GitHubConfigRequest = req.json()?;
    let settings = GitHubSettings {
        client_id: body.client_id,
        client_secret: body.client_secret,
    };
    let config = slipway.github().configure(&actor, settings).await?;
    Ok(json_response(StatusCode::OK, &view(config)))
}

//! The GitHub client: OAuth code exchange (oauth2 crate) and the few REST
//! calls Slipway needs (`GET /user`, `GET /user/emails`).
//!
//! Base URLs are configuration ([`Config::github_url`](crate::Config::github_url),
//! [`Config::github_api_url`](crate::Config::github_api_url)) so GitHub
//! Enterprise works and tests talk to a fake GitHub on loopback. Every call is
//! bounded by [`Config::github_timeout`](crate::Config::github_timeout).
//!
//! Tokens and the client secret only travel in [`SecretString`]; no error or
//! log line built here carries a request body, a reply body or a header value.

use std::time::Duration;

use url::Url;

use crate::config::Config;
use async_trait::async_trait;

use crate::crypto::SecretString;

mod api;
mod oauth;
mod transport;

pub(crate) use api::primary_verified;
pub use api::{GitHubEmail, GitHubUser, TokenScopes};

/// An OAuth app's credentials.
#[derive(Debug, Clone)]
pub struct GitHubApp {
    /// The app's client id (public).
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: SecretString,
}

/// The GitHub calls Slipway makes. The default is [`GitHub`], the real
/// client; hosts and tests may plug in their own through
/// [`SlipwayBuilder::github_client`](crate::SlipwayBuilder::github_client).
#[async_trait]
pub trait GitHubClient: Send + Sync + 'static {
    /// The page a front end sends users to (`?client_id=...&scope=...`).
    fn authorize_url(&self) -> String;
    /// Exchanges an authorization code for an access token with the OAuth
    /// app `app`. Each code works once.
    async fn exchange_code(
        &self,
        app: &GitHubApp,
        code: &SecretString,
    ) -> Result<SecretString, GitHubError>;
    /// `GET /user`: the token's account and its scopes.
    async fn user(&self, token: &SecretString) -> Result<(GitHubUser, TokenScopes), GitHubError>;
    /// `GET /user/emails`; `None` when the token may not read them.
    async fn emails(&self, token: &SecretString) -> Result<Option<Vec<GitHubEmail>>, GitHubError>;
}

#[async_trait]
impl GitHubClient for GitHub {
    fn authorize_url(&self) -> String {
        GitHub::authorize_url(self).to_string()
    }
    async fn exchange_code(
        &self,
        app: &GitHubApp,
        code: &SecretString,
    ) -> Result<SecretString, GitHubError> {
        GitHub::exchange_code(self, app, code).await
    }
    async fn user(&self, token: &SecretString) -> Result<(GitHubUser, TokenScopes), GitHubError> {
        GitHub::user(self, token).await
    }
    async fn emails(&self, token: &SecretString) -> Result<Option<Vec<GitHubEmail>>, GitHubError> {
        GitHub::emails(self, token).await
    }
}

/// Header GitHub uses to list a classic token's scopes.
pub(crate) const SCOPES_HEADER: &str = "x-oauth-scopes";

/// The real GitHub client, bound to one web/API base URL pair.
#[derive(Clone)]
pub struct GitHub {
    http: reqwest::Client,
    web: Url,
    api: Url,
    timeout: Duration,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("web", &self.web.as_str())
            .field("api", &self.api.as_str())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Parses a base URL setting: absolute `http`/`https`, no query or fragment.
fn base_url(setting: &str, value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim())
        .map_err(|e| format!("{setting} `{value}` is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "{setting} `{value}` must be an http:// or https:// URL"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{setting} `{value}` must not have a query or fragment"
        ));
    }
    Ok(url)
}

impl GitHub {
    /// A client for the GitHub named by `config` (its URLs and timeout).
    pub fn new(config: &Config) -> Result<Self, String> {
        let web = base_url("github_url", &config.github_url)?;
        let api = base_url("github_api_url", &config.github_api_url)?;
        if config.github_timeout.is_zero() {
            return Err("github_timeout must be positive".into());
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .timeout(config.github_timeout)
            .connect_timeout(config.github_timeout)
            // Never follow redirects: a token request must not be replayed elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the GitHub HTTP client could not be built: {e}"))?;
        Ok(Self {
            http,
            web,
            api,
            timeout: config.github_timeout,
        })
    }

    /// `<base>/<path>` keeping any path prefix of the base (GitHub Enterprise's
    /// `/api/v3`).
    fn join(base: &Url, path: &str) -> Url {
        let mut url = base.clone();
        let joined = format!(
            "{}/{}",
            base.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url
    }

    /// The OAuth token endpoint.
    pub(crate) fn token_url(&self) -> Url {
        Self::join(&self.web, "login/oauth/access_token")
    }

    /// The page a front end sends users to (`?client_id=...&scope=...`).
    pub(crate) fn authorize_url(&self) -> Url {
        Self::join(&self.web, "login/oauth/authorize")
    }

    fn api_url(&self, path: &str) -> Url {
        Self::join(&self.api, path)
    }
}

/// Why a GitHub call failed. Carries no secret.
#[derive(Debug)]
#[non_exhaustive]
pub enum GitHubError {
    /// The token endpoint refused the request with an OAuth error
    /// (`bad_verification_code`, `incorrect_client_credentials`, ...).
    Rejected {
        /// GitHub's error name.
        error: String,
        /// GitHub's explanation, if any.
        description: Option<String>,
    },
    /// The API refused a token (401).
    BadToken,
    /// GitHub could not be reached (DNS, connection refused, TLS, reset).
    Unreachable(String),
    /// GitHub answered with an unexpected status (5xx, or a 4xx where none is expected).
    Status(u16),
    /// GitHub did not answer within the configured timeout.
    Timeout(Duration),
    /// GitHub's reply could not be understood.
    Malformed(String),
}

impl std::fmt::Display for GitHubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitHubError::Rejected { error, .. } => write!(f, "GitHub answered `{error}`"),
            GitHubError::BadToken => f.write_str("GitHub refused the token (401)"),
            GitHubError::Unreachable(why) => write!(f, "GitHub could not be reached: {why}"),
            GitHubError::Status(s) => write!(f, "GitHub answered HTTP {s}"),
            GitHubError::Timeout(t) => write!(f, "GitHub did not answer within {t:?}"),
            GitHubError::Malformed(why) => write!(f, "GitHub's reply was malformed: {why}"),
        }
    }
}

impl std::error::Error for GitHubError {}

/// GitHub's error name for a wrong client id/secret pair.
pub(crate) const INCORRECT_CREDENTIALS: &str = "incorrect_client_credentials";
/// GitHub's error name for a wrong, expired or used code.
pub(crate) const BAD_CODE: &str = "bad_verification_code";

/// Keeps upstream text printable and short before it goes into a message.
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_keep_enterprise_prefixes() {
        let mut c = Config {
            github_url: "https://ghe.example.com/".into(),
            github_api_url: "https://ghe.example.com/api/v3".into(),
            ..Config::default()
        };
        let gh = GitHub::new(&c).unwrap();
        assert_eq!(
            gh.token_url().as_str(),
            "https://ghe.example.com/login/oauth/access_token"
        );
        assert_eq!(
            gh.api_url("user/emails").as_str(),
            "https://ghe.example.com/api/v3/user/emails"
        );
        c.github_api_url = "ftp://x".into();
        assert!(GitHub::new(&c).is_err());
        c.github_api_url = "not a url".into();
        assert!(GitHub::new(&c).is_err());
    }
}

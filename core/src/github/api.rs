//! The REST calls: `GET /user` (with the token's scopes) and `GET /user/emails`.

use http::{header, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::transport::Reply;
use super::{GitHub, GitHubError, SCOPES_HEADER};
use crate::crypto::SecretString;

/// The fields of `GET /user` Slipway uses.
#[derive(Debug, Clone, Deserialize)]
pub struct GitHubUser {
    /// Numeric account id (stable; logins can change).
    pub id: i64,
    /// Login (user name).
    pub login: String,
    /// Display name, when set.
    #[serde(default)]
    pub name: Option<String>,
}

/// One entry of `GET /user/emails`.
#[derive(Debug, Clone, Deserialize)]
pub struct GitHubEmail {
    /// The address.
    pub email: String,
    /// Whether it is the account's primary address.
    #[serde(default)]
    pub primary: bool,
    /// Whether GitHub verified it.
    #[serde(default)]
    pub verified: bool,
}

/// What `X-OAuth-Scopes` said about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScopes {
    /// A classic token (OAuth or PAT) with these scopes (possibly none).
    Classic(Vec<String>),
    /// No header: a fine-grained token (or a GitHub App token), whose
    /// permissions are not listed.
    FineGrained,
}

impl TokenScopes {
    /// The scopes as JSON for `Authorization.info` (`null` when fine-grained).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            TokenScopes::Classic(s) => serde_json::json!(s),
            TokenScopes::FineGrained => serde_json::Value::Null,
        }
    }
}

fn parse_scopes(value: &HeaderValue) -> Vec<String> {
    value
        .to_str()
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl GitHub {
    async fn api_get(&self, path: &str, token: &SecretString) -> Result<Reply, GitHubError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| GitHubError::BadToken)?;
        auth.set_sensitive(true);
        let req = self
            .http
            .get(self.api_url(path))
            .header(header::AUTHORIZATION, auth)
            .header(header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .build()
            .map_err(|e| GitHubError::Malformed(format!("request could not be built: {e}")))?;
        let reply = self.send(req).await?;
        match reply.status {
            StatusCode::OK => Ok(reply),
            StatusCode::UNAUTHORIZED => Err(GitHubError::BadToken),
            other => Err(GitHubError::Status(other.as_u16())),
        }
    }

    fn json<T: DeserializeOwned>(what: &str, reply: &Reply) -> Result<T, GitHubError> {
        serde_json::from_slice(&reply.body)
            .map_err(|e| GitHubError::Malformed(format!("{what}: {}", e.classify_name())))
    }

    /// `GET /user`: the token's account and, from `X-OAuth-Scopes`, its scopes.
    pub(crate) async fn user(
        &self,
        token: &SecretString,
    ) -> Result<(GitHubUser, TokenScopes), GitHubError> {
        let reply = self.api_get("user", token).await?;
        let user: GitHubUser = Self::json("GET /user", &reply)?;
        let scopes = match reply.headers.get(SCOPES_HEADER) {
            Some(v) => TokenScopes::Classic(parse_scopes(v)),
            None => TokenScopes::FineGrained,
        };
        Ok((user, scopes))
    }

    /// `GET /user/emails`. `None` when the token may not read them (no
    /// `user:email` scope: GitHub answers 403 or 404).
    pub(crate) async fn emails(
        &self,
        token: &SecretString,
    ) -> Result<Option<Vec<GitHubEmail>>, GitHubError> {
        match self.api_get("user/emails", token).await {
            Ok(reply) => Self::json("GET /user/emails", &reply).map(Some),
            Err(GitHubError::Status(403 | 404)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The primary address, if GitHub verified it; `Err` with the primary
/// address when it exists but is unverified.
pub(crate) fn primary_verified(emails: &[GitHubEmail]) -> Result<Option<&str>, &str> {
    match emails.iter().find(|e| e.primary) {
        Some(e) if e.verified => Ok(Some(e.email.as_str())),
        Some(e) => Err(e.email.as_str()),
        None => Ok(None),
    }
}

trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    /// The kind of JSON failure, without the input text.
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "unexpected JSON shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_header() {
        let v = HeaderValue::from_static("repo, read:org,  gist");
        assert_eq!(parse_scopes(&v), vec!["repo", "read:org", "gist"]);
        assert!(parse_scopes(&HeaderValue::from_static("")).is_empty());
    }

    #[test]
    fn primary_email() {
        let e = |email: &str, primary, verified| GitHubEmail {
            email: email.into(),
            primary,
            verified,
        };
        let list = vec![e("a@x.io", false, true), e("b@x.io", true, true)];
        assert_eq!(primary_verified(&list), Ok(Some("b@x.io")));
        let list = vec![e("a@x.io", false, true), e("b@x.io", true, false)];
        assert_eq!(primary_verified(&list), Err("b@x.io"));
        assert_eq!(primary_verified(&[]), Ok(None));
    }
}

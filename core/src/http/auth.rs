//! Authentication: how a request becomes a [`Principal`].

use async_trait::async_trait;
use http::HeaderMap;

use crate::services::{Error, Principal};
use crate::Slipway;

/// What an [`Authenticator`] sees of a request. Its `Debug` lists header
/// names only and redacts the query token, so logging it leaks no credential.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct AuthRequest<'a> {
    /// The request's headers (cookies, `Authorization`, ...).
    pub headers: &'a HeaderMap,
    /// The `token` query parameter of a WebSocket request (`GET /ws?token=`),
    /// which wins over the `Authorization` header; `None` on other requests.
    pub query_token: Option<&'a str>,
}

impl std::fmt::Debug for AuthRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("AuthRequest")
            .field("header_names", &names)
            .field("query_token", &self.query_token.map(|_| "<redacted>"))
            .finish()
    }
}

impl<'a> AuthRequest<'a> {
    /// A request with only headers.
    pub fn new(headers: &'a HeaderMap) -> Self {
        AuthRequest {
            headers,
            query_token: None,
        }
    }

    /// The bearer token: the WebSocket `token` parameter, else
    /// `Authorization: Bearer <token>`.
    pub fn bearer(&self) -> Option<&'a str> {
        self.query_token
            .filter(|t| !t.is_empty())
            .or_else(|| bearer(self.headers))
    }
}

/// Maps a request to the acting principal, once per request (HTTP and
/// WebSocket alike). Hosts implement it to authenticate Slipway's requests
/// with their own session, cookie or header, and may fall back to
/// [`BearerAuthenticator`] for Slipway's own tokens.
///
/// Answer `Ok(None)` when the request carries no credentials (401 "an access
/// token is required"), `Err` when it carries invalid ones (the error is
/// rendered, usually [`Error::Unauthenticated`]).
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The principal of `request`.
    async fn authenticate(
        &self,
        slipway: &Slipway,
        request: &AuthRequest<'_>,
    ) -> Result<Option<Principal>, Error>;
}

/// The default: Slipway's own access tokens (HS256 JWTs), from
/// `Authorization: Bearer` or, on `/ws`, `?token=`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BearerAuthenticator;

#[async_trait]
impl Authenticator for BearerAuthenticator {
    async fn authenticate(
        &self,
        slipway: &Slipway,
        request: &AuthRequest<'_>,
    ) -> Result<Option<Principal>, Error> {
        match request.bearer() {
            None => Ok(None),
            Some(token) => slipway.accounts().verify_token(token).await.map(Some),
        }
    }
}

/// The bearer token of `Authorization: Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::AuthRequest;
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn debug_shows_header_names_never_credentials() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("Bearer eyJsecret.jwt.value"),
        );
        headers.insert("cookie", HeaderValue::from_static("session=cookiesecret"));
        let mut request = AuthRequest::new(&headers);
        request.query_token = Some("querysecret");
        let shown = format!("{request:?}");
        for secret in ["eyJsecret", "cookiesecret", "querysecret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("authorization"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

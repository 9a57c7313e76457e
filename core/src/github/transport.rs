//! Sending one request to GitHub and classifying transport failures.

use bytes::Bytes;
use http::HeaderMap;

use super::{GitHub, GitHubError};

/// The largest reply read from GitHub (its user, email and token replies
/// are a few KiB): a bigger one is refused as malformed, not buffered.
pub(super) const MAX_REPLY_BYTES: usize = 1024 * 1024;

fn too_large() -> GitHubError {
    GitHubError::Malformed(format!("reply larger than {MAX_REPLY_BYTES} bytes"))
}

/// A reply as read: status, headers, body. The body is never logged.
pub(super) struct Reply {
    pub(super) status: http::StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl GitHub {
    /// Sends `req`, reads the whole reply within the timeout, and maps
    /// transport failures and 5xx statuses to [`GitHubError`]. Other statuses
    /// are returned for the caller to interpret.
    pub(super) async fn send(&self, req: reqwest::Request) -> Result<Reply, GitHubError> {
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| self.transport(e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_REPLY_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut resp = resp;
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(e))? {
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let body = body.freeze();
        if status.is_server_error() {
            return Err(GitHubError::Status(status.as_u16()));
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// The oauth2 crate's HTTP hook: the same as [`GitHub::send`], but a 5xx
    /// becomes an error before the crate tries to read it as an OAuth reply.
    pub(super) async fn send_oauth(
        &self,
        req: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, GitHubError> {
        let req = reqwest::Request::try_from(req)
            .map_err(|e| GitHubError::Malformed(format!("request could not be built: {e}")))?;
        let reply = self.send(req).await?;
        let mut resp = http::Response::new(reply.body.to_vec());
        *resp.status_mut() = reply.status;
        *resp.headers_mut() = reply.headers;
        Ok(resp)
    }

    /// Classifies a reqwest error. Its text names the URL (a base URL and a
    /// fixed path, never a secret) and the kind of failure.
    fn transport(&self, e: reqwest::Error) -> GitHubError {
        if e.is_timeout() {
            GitHubError::Timeout(self.timeout)
        } else if e.is_decode() || e.is_body() {
            GitHubError::Malformed(e.without_url().to_string())
        } else {
            GitHubError::Unreachable(describe(&e))
        }
    }
}

/// An error with its chain of causes, for the log.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

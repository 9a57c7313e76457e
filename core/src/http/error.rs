//! [`ApiError`]: the one type every endpoint failure is rendered from, and
//! the mapping of the services' typed errors to HTTP statuses.

use std::time::Duration;

use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use crate::error::BoxError;
use crate::services::{Error, Upstream};

/// An API error: a status and a message a person can act on.
///
/// Rendered as `{"statusCode": 404, "message": "...", "error": "Not Found"}`.
/// Internal errors keep their cause for logging but answer a generic message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
    source: Option<BoxError>,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status code, repeated.
    #[schema(example = 404, minimum = 400, maximum = 599)]
    pub status_code: u16,
    /// What went wrong, naming the field at fault.
    #[schema(example = "Project not found")]
    pub message: String,
    /// The status' reason phrase.
    #[schema(example = "Not Found")]
    pub error: String,
    /// The request's id, as in the `X-Request-Id` response header (absent
    /// only when an error is rendered outside a request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        example = "3f2a9c0e5b7d4e1f8a6c2b9d0e4f7a1c",
        pattern = "^[A-Za-z0-9._:-]{1,128}$"
    )]
    pub request_id: Option<String>,
}

impl ApiError {
    /// An error with the given status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }
    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// 401 Unauthorized (rendered with `WWW-Authenticate: Bearer`).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    /// 409 Conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    /// 429 Too Many Requests with `Retry-After`.
    pub fn too_many_requests(message: impl Into<String>, retry_after: Duration) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, message);
        e.retry_after = Some(retry_after);
        e
    }
    /// 502 Bad Gateway: an upstream (GitHub, DNS) answered badly.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, message)
    }
    /// 504 Gateway Timeout: an upstream did not answer in time.
    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, message)
    }
    /// 503: the store cannot be reached.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable; try again shortly",
        );
        e.source = Some(source.into());
        e.retry_after = Some(Duration::from_secs(1));
        e
    }
    /// 503 with a message and `Retry-After`: the instance is saturated.
    pub fn busy(message: impl Into<String>, retry_after: Duration) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, message);
        e.retry_after = Some(retry_after);
        e
    }
    /// 500 with a generic message; the cause is kept for the log only.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
        e.source = Some(source.into());
        e
    }

    /// The same error with `Retry-After`.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The message shown to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The internal cause, if any (never shown to clients).
    pub fn cause(&self) -> Option<&BoxError> {
        self.source.as_ref()
    }

    /// The error body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            status_code: self.status.as_u16(),
            message: self.message.clone(),
            error: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            request_id: crate::http::RequestId::current().map(|id| id.to_string()),
        }
    }

    /// Renders the error as an HTTP response.
    pub fn into_response(self) -> crate::http::Response {
        if let Some(src) = &self.source {
            if self.status.is_server_error() {
                tracing::error!(status = self.status.as_u16(), error = %src, "request failed");
            }
        }
        let mut resp = crate::http::json_response(self.status, &self.body());
        let headers = resp.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(after) = self.retry_after {
            let secs = after.as_secs().max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            Error::Conflict(unique) => ApiError::conflict(unique.message()),
            Error::InUse { message, .. } => ApiError::conflict(message),
            Error::Invalid { message, .. } => ApiError::bad_request(message),
            Error::Unauthenticated(message) => ApiError::unauthorized(message),
            e @ Error::SignupClosed(_) => ApiError::forbidden(e.to_string()),
            Error::Forbidden(message) => ApiError::forbidden(message),
            Error::TooManyAttempts {
                message,
                retry_after,
            } => ApiError::too_many_requests(message, retry_after),
            Error::Busy {
                message,
                retry_after,
            } => ApiError::busy(message, retry_after),
            Error::Upstream {
                timed_out: true,
                message,
                ..
            } => ApiError::gateway_timeout(message),
            Error::Upstream {
                service: Upstream::GitHub | Upstream::Dns,
                message,
                ..
            } => ApiError::bad_gateway(message),
            Error::Unavailable(e) => ApiError::unavailable(e),
            Error::Internal(e) => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod busy_tests {
    use super::*;

    /// `Busy` answers 503 with `Retry-After` and its own message.
    #[test]
    fn busy_is_503_with_retry_after() {
        let api = ApiError::from(Error::Busy {
            message: "Too many password checks are waiting".into(),
            retry_after: Duration::from_secs(1),
        });
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.message(), "Too many password checks are waiting");
        let resp = api.into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
    }
}

//! Request ids: every response carries `X-Request-Id`, every error body its
//! `requestId`, and every log line of the request the `request_id` span
//! field — the same value, the client's own when it sent a sane one.
//!
//! Core scopes each request it answers ([`with_request_id`]). A host that
//! wants its own log lines (the request log, a time-limit answer) to carry the
//! id too scopes the request first, around everything it does, and core then
//! uses the host's id: see `slipway-server`'s layers.

use std::future::Future;

use futures::FutureExt as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use tracing::Instrument as _;

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of one request: the client's `X-Request-Id` when it is 1-128
/// characters of `[A-Za-z0-9._:-]`, else a generated one (32 hex digits).
///
/// Held as the header value it is sent back as: taking the client's id,
/// cloning the id and writing the response header share one buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The client's id from `headers` when sane, else a new one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_header(headers.get(&X_REQUEST_ID))
    }

    /// [`RequestId::from_headers`] given the `X-Request-Id` header alone.
    fn from_header(given: Option<&HeaderValue>) -> Self {
        given
            .filter(|v| v.to_str().is_ok_and(is_sane))
            .map(|v| RequestId(v.clone()))
            .unwrap_or_else(Self::generate)
    }

    /// A new random id (32 lowercase hex digits), from the thread's
    /// generator (no system call per request).
    pub fn generate() -> Self {
        let mut hex = [0u8; uuid::fmt::Simple::LENGTH];
        let id = crate::model::random_uuid();
        id.simple().encode_lower(&mut hex);
        // One allocation, shared by every clone (a value copied from a slice
        // would allocate again when first cloned).
        let bytes = bytes::Bytes::from_owner(hex);
        RequestId(HeaderValue::from_maybe_shared(bytes).expect("hex digits are a header value"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Sane ids and generated ones are visible ASCII.
        self.0.to_str().unwrap_or_default()
    }

    /// The id of the request being answered by the current task, if any.
    pub fn current() -> Option<RequestId> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }

    /// `fut` with this id as the current request's, as a future a host
    /// can name in its own types (a tower `Service::Future`) without
    /// boxing; [`RequestId::scope`] is the same.
    pub fn scoped<F: Future>(self, fut: F) -> tokio::task::futures::TaskLocalFuture<RequestId, F> {
        CURRENT.scope(self, fut)
    }

    /// Sets `X-Request-Id` on `resp` to the current request's id, when one
    /// is scoped (run it inside the scope: `id.scoped(answer.map(..))`).
    pub fn set_header<B>(resp: &mut http::Response<B>) {
        if let Some(id) = RequestId::current() {
            resp.headers_mut()
                .insert(X_REQUEST_ID.clone(), id.header_value());
        }
    }

    /// Runs `fut` with this id as the current request's: error bodies
    /// rendered inside carry it.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a client's id is used as is: 1-128 characters of `[A-Za-z0-9._:-]`.
pub fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Answers a request within its request id: the host's when it scoped one
/// ([`RequestId::scope`]), else the one `headers` give, with a tracing span
/// `request` carrying `request_id` around `answer`. The response gets
/// `X-Request-Id`. The id is decided when the returned future first runs
/// (inside a host's scope, if any); the future does not borrow `headers`.
pub fn with_request_id<F, B>(
    headers: &HeaderMap,
    answer: F,
) -> impl Future<Output = http::Response<B>>
where
    F: Future<Output = http::Response<B>>,
{
    answer_lazily(headers.get(&X_REQUEST_ID).cloned(), answer)
}

/// [`with_request_id`] given the request's `X-Request-Id` header alone: the
/// scope is decided when the future first runs. Lazy, then flattened, so
/// `answer` is held once (first by the closure, then by its scope), never
/// beside a copy of itself.
pub(crate) fn answer_lazily<F, B>(
    given: Option<HeaderValue>,
    answer: F,
) -> impl Future<Output = http::Response<B>>
where
    F: Future<Output = http::Response<B>>,
{
    futures::future::lazy(move |_| answer_in(RequestScope::of(given.as_ref()), answer)).flatten()
}

/// The request id a request is answered in, decided when its answer first
/// runs (inside a host's scope, if any): the scoped one, or a new scope.
pub(crate) enum RequestScope {
    /// The host scoped one already ([`RequestId::scope`]).
    Scoped(RequestId),
    /// None yet: answer within this one.
    New(RequestId),
}

impl RequestScope {
    /// The scope for a request whose `X-Request-Id` header is `given`: the
    /// scoped one when a host scoped an id, else `given` when it is sane,
    /// else a new one.
    pub(crate) fn of(given: Option<&HeaderValue>) -> Self {
        match RequestId::current() {
            Some(id) => RequestScope::Scoped(id),
            None => RequestScope::New(RequestId::from_header(given)),
        }
    }
}

/// [`with_request_id`] with the scope decided already.
fn answer_in<F, B>(scope: RequestScope, answer: F) -> impl Future<Output = http::Response<B>>
where
    F: Future<Output = http::Response<B>>,
{
    // Built here, not in an `async fn`: an async fn would keep `answer` as
    // its argument and again inside the scope it awaits (twice the size).
    match scope {
        // The host's scope holds the id already and is entered whenever
        // `answer` runs: scoping it again would only repeat it.
        RequestScope::Scoped(id) => futures::future::Either::Left(answer.map(move |mut resp| {
            resp.headers_mut()
                .insert(X_REQUEST_ID.clone(), id.header_value());
            resp
        })),
        RequestScope::New(id) => {
            let span = tracing::info_span!("request", request_id = %id);
            // The header is added inside the scope, from the scoped id (no
            // copy of it is kept beside the answer).
            let answer = answer.map(|mut resp| {
                RequestId::set_header(&mut resp);
                resp
            });
            futures::future::Either::Right(id.scoped(answer).instrument(span))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_others_replaced() {
        let mut h = HeaderMap::new();
        h.insert(&X_REQUEST_ID, HeaderValue::from_static("abc-1.2_3:4"));
        assert_eq!(RequestId::from_headers(&h).as_str(), "abc-1.2_3:4");
        let long = "a".repeat(128);
        h.insert(&X_REQUEST_ID, HeaderValue::from_str(&long).unwrap());
        assert_eq!(RequestId::from_headers(&h).as_str(), long);
        for bad in ["", "has space", "semi;colon", &"a".repeat(129), "é"] {
            let Ok(v) = HeaderValue::from_str(bad) else {
                continue;
            };
            h.insert(&X_REQUEST_ID, v);
            let id = RequestId::from_headers(&h);
            assert_ne!(id.as_str(), bad);
            assert_eq!(id.as_str().len(), 32, "{id}");
            assert!(is_sane(id.as_str()));
        }
        assert_eq!(
            RequestId::from_headers(&HeaderMap::new()).as_str().len(),
            32
        );
    }

    #[tokio::test]
    async fn the_current_id_is_the_scoped_one() {
        assert_eq!(RequestId::current(), None);
        let id = RequestId::generate();
        let seen = id.clone().scope(async { RequestId::current() }).await;
        assert_eq!(seen, Some(id));
    }
}

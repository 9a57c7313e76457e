//! Endpoints as tower Services, and the request/response plumbing they share.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::{self, BoxFuture};
use futures::FutureExt as _;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::BoxError;
use crate::metrics::RouteLabels;
use crate::services::{Origin, Principal};
use crate::Slipway;

mod auth;
mod error;
pub(crate) mod handlers;
pub(crate) mod json;
mod request_id;

pub use auth::{AuthRequest, Authenticator, BearerAuthenticator};
pub use error::{ApiError, ErrorBody};
pub(crate) use handlers::openapi::openapi_document;
pub use request_id::{is_sane as is_sane_request_id, with_request_id, RequestId, X_REQUEST_ID};

use handlers::Endpoint;

/// The response type of every Slipway service.
pub type Response = http::Response<Full<Bytes>>;

/// The address of the client that sent a request. Adapters put it in the
/// request's extensions (axum from `ConnectInfo`, warp from
/// `warp::addr::remote`); core uses it to limit failed sign-ins per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// A JSON response with the given status.
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    // Most bodies (one project with its networks, a user) fit in 512 bytes:
    // one allocation instead of a vector grown from empty.
    let mut body = Vec::with_capacity(512);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => {
            let mut resp = http::Response::new(Full::new(Bytes::from(body)));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            nosniff(&mut resp);
            resp
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// An empty response (204 No Content).
pub fn no_content() -> Response {
    let mut resp = http::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    nosniff(&mut resp);
    resp
}

/// `X-Content-Type-Options: nosniff`, on every response core makes.
fn nosniff(resp: &mut Response) {
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// 431 when the headers are larger than the configured limit: the sum of
/// names and values, plus 4 bytes (`: ` and CRLF) per header.
pub(crate) fn check_header_size(slipway: &Slipway, headers: &HeaderMap) -> Result<(), ApiError> {
    let limit = slipway.config().max_header_bytes;
    let total: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.as_bytes().len() + 4)
        .sum();
    if total > limit {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("Request headers are larger than the limit of {limit} bytes"),
        ));
    }
    Ok(())
}

/// One route of the API.
#[derive(Clone, Debug)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path template with `{name}` parameters, e.g. `/project/{id}`.
    pub path: &'static str,
    /// The service answering it.
    pub service: EndpointService,
}

pub(crate) fn routes(slipway: &Slipway) -> Vec<Route> {
    let docs = slipway.config().docs;
    handlers::ENDPOINTS
        .iter()
        .enumerate()
        .filter(|(_, ep)| docs || ep.path != "/docs")
        .map(|(i, ep)| Route {
            method: ep.method.clone(),
            path: ep.path,
            service: EndpointService {
                slipway: slipway.clone(),
                endpoint: ep,
                labels: route_labels(i),
            },
        })
        .collect()
}

/// The metric labels of the endpoint at `index` in `handlers::ENDPOINTS`,
/// made once per process.
fn route_labels(index: usize) -> &'static RouteLabels {
    static LABELS: OnceLock<Box<[RouteLabels]>> = OnceLock::new();
    &LABELS.get_or_init(|| {
        handlers::ENDPOINTS
            .iter()
            .map(|ep| RouteLabels::new(&ep.method, ep.path))
            .collect()
    })[index]
}

/// A request as handlers see it: the body already read (within the limit).
pub(crate) struct ApiRequest {
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) params: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
    pub(crate) client: Option<ClientAddr>,
    pub(crate) limits: json::JsonLimits,
}

impl ApiRequest {
    /// A path parameter as the id type `T` (empty when absent).
    pub(crate) fn id<T: From<String>>(&mut self, name: &str) -> T {
        // The decoded segment moves into the id: no second copy.
        let value = self
            .params
            .iter_mut()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| std::mem::take(v))
            .unwrap_or_default();
        T::from(value)
    }

    /// A query parameter by name, percent-decoded.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        let q = self.uri.query()?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The page of a list this request asks for: `?limit=N&after=<id>`
    /// (the whole list without them); a bad `limit` is a 400.
    pub(crate) fn page(&self) -> Result<crate::services::PageRequest, ApiError> {
        let limit = self.query("limit");
        let after = self.query("after");
        Ok(crate::services::PageRequest::from_query(
            limit.as_deref(),
            after.as_deref(),
        )?)
    }

    /// A 200 answer with one page of a list: `views` as the JSON array and,
    /// when more items follow, `Link: <list?…&limit=N&after=<id>>;
    /// rel="next"` (a reference relative to the request's URL, so it holds
    /// under any prefix), keeping the request's other query parameters.
    pub(crate) fn page_response<T: Serialize>(
        &self,
        page: &crate::services::PageRequest,
        views: &[T],
        next_after: Option<&str>,
    ) -> Response {
        let mut resp = json_response(StatusCode::OK, views);
        let (Some(after), Some(limit)) = (next_after, page.limit()) else {
            return resp;
        };
        let last = self.uri.path().rsplit('/').next().unwrap_or("");
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(q) = self.uri.query() {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                if k != "limit" && k != "after" {
                    query.append_pair(&k, &v);
                }
            }
        }
        query.append_pair("limit", &limit.to_string());
        query.append_pair("after", after);
        let link = format!("<{last}?{}>; rel=\"next\"", query.finish());
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert(header::LINK, v);
        }
        resp
    }

    /// The body parsed as JSON object into `T`, with messages that name the
    /// field at fault.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        json::parse_json(&self.headers, &self.body, &self.limits)
    }

    /// The acting principal, from the instance's [`Authenticator`]; 401 when
    /// the request carries no (valid) credentials.
    pub(crate) async fn principal(&self, slipway: &Slipway) -> Result<Principal, ApiError> {
        let request = AuthRequest {
            headers: &self.headers,
            query_token: None,
        };
        match slipway
            .inner
            .authenticator
            .authenticate(slipway, &request)
            .await
        {
            Ok(Some(principal)) => Ok(principal),
            Ok(None) => Err(ApiError::unauthorized(
                "An access token is required: send Authorization: Bearer <token>",
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// Matches `path` against a template like `/project/{id}`, returning the
/// percent-decoded parameters: the whole path when `whole`, else its end
/// (any prefix may precede it). Allocates only for parameters.
fn match_path(
    template: &'static str,
    path: &str,
    whole: bool,
) -> Option<Vec<(&'static str, String)>> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let mut segments = path.rsplit('/');
    let mut params = Vec::new();
    for t in template.rsplit('/').filter(|s| !s.is_empty()) {
        let s = segments.next()?;
        if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            if s.is_empty() {
                return None;
            }
            params.push((name, percent_decode(s)?));
        } else if t != s {
            return None;
        }
    }
    if whole && segments.next().is_some() {
        return None;
    }
    params.reverse();
    Some(params)
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        // Nothing to decode (ids never need it): one copy, no byte-by-byte pass.
        return Some(s.to_owned());
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|v| v.into_owned())
}

async fn read_body<B>(slipway: &Slipway, headers: &HeaderMap, body: B) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let limit = slipway.config().body_limit;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    };
    if body.is_end_stream() {
        // No body (the usual GET or DELETE): nothing to collect.
        return Ok(Bytes::new());
    }
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(_) => Err(ApiError::bad_request("The request body could not be read")),
    }
}

/// Answers a request routed to `endpoint`, inside its request-id scope:
/// 404 when its path did not match the endpoint's template (`params` is
/// `None`), 405 when its method is not the endpoint's, else the handler's
/// answer. Takes the request in parts (not whole and split here), so the
/// future holds it once.
async fn dispatch<B>(
    slipway: Slipway,
    endpoint: &'static Endpoint,
    params: Option<Vec<(&'static str, String)>>,
    parts: http::request::Parts,
    body: B,
) -> Response
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let Some(params) = params else {
        return not_found_route(parts.uri.path()).into_response();
    };
    if parts.method != endpoint.method {
        return method_not_allowed(&parts.method, std::slice::from_ref(&endpoint.method));
    }
    if let Err(e) = check_header_size(&slipway, &parts.headers) {
        return e.into_response();
    }
    let body = match read_body(&slipway, &parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let client = parts.extensions.get::<ClientAddr>().copied();
    // Audit entries written while answering carry the client's address and
    // the request id.
    let origin = Origin::new(
        client.map(|c| c.0),
        RequestId::current().map(|id| id.as_str().to_owned()),
    );
    let api_req = ApiRequest {
        uri: parts.uri,
        headers: parts.headers,
        params,
        body,
        client,
        limits: json::JsonLimits::from_config(slipway.config()),
    };
    origin
        .scope(answer_or_500((endpoint.handler)(slipway, api_req)))
        .await
}

/// Awaits a handler's answer. A panic in the handler becomes a logged JSON
/// 500 (`Internal server error`), so the connection carries on serving
/// instead of being dropped mid-request.
async fn answer_or_500<F>(handler: F) -> Response
where
    F: Future<Output = Result<Response, ApiError>>,
{
    use futures::FutureExt as _;
    match std::panic::AssertUnwindSafe(handler).catch_unwind().await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => e.into_response(),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("a non-string payload");
            tracing::error!(panic = what, "a request handler panicked; answered 500");
            // No `source`: the panic is logged once, here.
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
                .into_response()
        }
    }
}

/// The service of one endpoint. Mount it at its [`Route::path`]; it extracts
/// path parameters from the end of the request path, so any prefix works.
#[derive(Clone)]
pub struct EndpointService {
    slipway: Slipway,
    endpoint: &'static Endpoint,
    labels: &'static RouteLabels,
}

impl std::fmt::Debug for EndpointService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointService")
            .field("method", &self.endpoint.method)
            .field("path", &self.endpoint.path)
            .finish()
    }
}

impl<B> tower::Service<http::Request<B>> for EndpointService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let started = std::time::Instant::now();
        let (endpoint, labels) = (self.endpoint, self.labels);
        let params = match_path(endpoint.path, req.uri().path(), false);
        let (parts, body) = req.into_parts();
        // The labels the answer is recorded under, decided now (so the
        // future keeps two words for them, not the request's method).
        let metric = match (&params, parts.method == endpoint.method) {
            (None, _) => {
                crate::metrics::Recorded::other(&parts.method, crate::metrics::UNMATCHED_ROUTE)
            }
            (Some(_), true) => crate::metrics::Recorded::Route(labels),
            // 405: labelled with the method asked for, as any answer.
            (Some(_), false) => crate::metrics::Recorded::other(&parts.method, endpoint.path),
        };
        let given_id = parts.headers.get(&X_REQUEST_ID).cloned();
        let answer = dispatch(self.slipway.clone(), endpoint, params, parts, body);
        answered(given_id, metric, started, answer)
    }
}

/// A request's answer as a service future: run in its request-id scope
/// (decided when it first runs), recorded under `metric` once answered, and
/// boxed once. `answer` is held once throughout, so the box stays small.
fn answered<F>(
    given_id: Option<HeaderValue>,
    metric: crate::metrics::Recorded,
    started: std::time::Instant,
    answer: F,
) -> BoxFuture<'static, Result<Response, Infallible>>
where
    F: Future<Output = Response> + Send + 'static,
{
    Box::pin(
        request_id::answer_lazily(given_id, answer).map(move |resp| {
            metric.record(resp.status().as_u16(), started.elapsed());
            Ok(resp)
        }),
    )
}

fn not_found_route(path: &str) -> ApiError {
    let shown: String = path.chars().take(200).collect();
    ApiError::not_found(format!("Cannot find route {shown}"))
}

fn method_not_allowed(method: &Method, allowed: &[Method]) -> Response {
    let list = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut resp = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method {method} is not allowed here; allowed: {list}"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&list) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

/// A request's path parameters by name, percent-decoded.
type PathParams = Vec<(&'static str, String)>;

/// The endpoint table indexed by path for [`SlipwayService`]: one lookup in
/// matchit's tree (the router axum uses, so both hosts pick the same
/// endpoint when templates overlap), then the path's few methods.
struct Routes {
    /// Each distinct template, to its endpoints' indexes in `ENDPOINTS`.
    paths: matchit::Router<Vec<usize>>,
}

static ROUTES: std::sync::LazyLock<Routes> = std::sync::LazyLock::new(Routes::new);

impl Routes {
    fn new() -> Self {
        let mut by_path: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (i, ep) in handlers::ENDPOINTS.iter().enumerate() {
            match by_path.iter_mut().find(|(p, _)| *p == ep.path) {
                Some((_, list)) => list.push(i),
                None => by_path.push((ep.path, vec![i])),
            }
        }
        let mut paths = matchit::Router::new();
        for (path, list) in by_path {
            paths
                .insert(path, list)
                .unwrap_or_else(|e| panic!("endpoint template {path}: {e}"));
        }
        Self { paths }
    }

    /// The endpoints (indexes in `ENDPOINTS`) of the template `path`
    /// matches, with its decoded parameters.
    fn lookup(&'static self, path: &str) -> Option<(&'static [usize], PathParams)> {
        let matched = self.paths.at(path).ok()?;
        // The router is a static, so its parameter names are too. A value
        // that is not UTF-8 once decoded matches no endpoint.
        let params = matched
            .params
            .iter()
            .map(|(name, value)| Some((name, percent_decode(value)?)))
            .collect::<Option<Vec<_>>>()?;
        Some((matched.value.as_slice(), params))
    }

    /// The endpoint answering `method` on `path`, with its index and the
    /// decoded path parameters.
    fn find(
        &'static self,
        method: &Method,
        path: &str,
    ) -> Option<(usize, &'static Endpoint, PathParams)> {
        let (endpoints, params) = self.lookup(path)?;
        let i = *endpoints
            .iter()
            .find(|&&i| handlers::ENDPOINTS[i].method == *method)?;
        Some((i, &handlers::ENDPOINTS[i], params))
    }
}

/// One service for the whole API: routes by method and path (exact match),
/// answering JSON 404 for unknown paths and 405 for wrong methods.
#[derive(Clone, Debug)]
pub struct SlipwayService {
    slipway: Slipway,
}

impl SlipwayService {
    pub(crate) fn new(slipway: Slipway) -> Self {
        Self { slipway }
    }

    /// Answers a request for a path no route serves: 404, or 405 with `Allow`
    /// when the path exists for other methods. Adapters use it as fallback.
    pub fn fallback_response(method: &Method, path: &str) -> Response {
        // `/docs` is optional (`Config::docs`): never named as allowed here.
        let allowed: Vec<Method> = ROUTES
            .lookup(path)
            .map(|(endpoints, _)| {
                endpoints
                    .iter()
                    .map(|&i| &handlers::ENDPOINTS[i])
                    .filter(|ep| ep.path != "/docs")
                    .map(|ep| ep.method.clone())
                    .collect()
            })
            .unwrap_or_default();
        if allowed.is_empty() {
            not_found_route(path).into_response()
        } else {
            method_not_allowed(method, &allowed)
        }
    }
}

impl<B> tower::Service<http::Request<B>> for SlipwayService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let started = std::time::Instant::now();
        let found = ROUTES.find(req.method(), req.uri().path());
        let (parts, body) = req.into_parts();
        let given_id = parts.headers.get(&X_REQUEST_ID).cloned();
        let metric = match &found {
            Some((i, _, _)) => crate::metrics::Recorded::Route(route_labels(*i)),
            None => crate::metrics::Recorded::other(&parts.method, crate::metrics::UNMATCHED_ROUTE),
        };
        let answer = match found {
            Some((_, ep, params)) => {
                let slipway = self.slipway.clone();
                future::Either::Left(dispatch(slipway, ep, Some(params), parts, body))
            }
            // Rendered inside the request's scope: the body names its id.
            None => future::Either::Right(future::lazy(move |_| {
                Self::fallback_response(&parts.method, parts.uri.path())
            })),
        };
        answered(given_id, metric, started, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_json_500() {
        let resp = answer_or_500(async {
            if true {
                panic!("a handler bug");
            }
            Ok(json_response(StatusCode::OK, "unreached"))
        })
        .await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &body[..],
            br#"{"statusCode":500,"message":"Internal server error","error":"Internal Server Error"}"#
        );
        // Answers and errors pass through unchanged.
        let ok = answer_or_500(async { Ok(json_response(StatusCode::CREATED, "made")) }).await;
        assert_eq!(ok.status(), StatusCode::CREATED);
        let err = answer_or_500(async { Err(ApiError::not_found("gone")) }).await;
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
    }

    /// The endpoint table searched in order, as `SlipwayService` did before
    /// it indexed the table: the reference `Routes::find` must agree with.
    fn linear_find(method: &Method, path: &str) -> Option<(usize, Vec<(&'static str, String)>)> {
        handlers::ENDPOINTS
            .iter()
            .enumerate()
            .filter(|(_, ep)| ep.method == method)
            .find_map(|(i, ep)| Some((i, match_path(ep.path, path, true)?)))
    }

    #[test]
    fn the_indexed_table_finds_what_a_linear_search_finds() {
        let mut paths = vec![
            "/".to_string(),
            String::new(),
            "/project/".to_string(),
            "//project/x".to_string(),
            "/project/x/".to_string(),
            "/project/x/y".to_string(),
            "/api/project/x".to_string(),
            "/project/%FF".to_string(),
            "/PROJECT/x".to_string(),
            "/ws".to_string(),
        ];
        for ep in handlers::ENDPOINTS {
            for id in ["abc", "a%20b", "a%2Fb", "%E2%9C%93", "x.y"] {
                paths.push(ep.path.replace("{id}", id));
                paths.push(format!("{}/", ep.path.replace("{id}", id)));
                paths.push(format!("/api{}", ep.path.replace("{id}", id)));
            }
        }
        let methods = [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ];
        let mut found = 0;
        for path in &paths {
            for method in &methods {
                let indexed = ROUTES.find(method, path).map(|(i, _, p)| (i, p));
                assert_eq!(indexed, linear_find(method, path), "{method} {path}");
                found += usize::from(indexed.is_some());
            }
        }
        // Every endpoint was found (the comparison is not all `None`).
        assert!(found >= handlers::ENDPOINTS.len(), "found {found}");
    }

    #[test]
    fn templates_match_and_decode() {
        let p = match_path("/project/{id}", "/project/a%20b", true).unwrap();
        assert_eq!(p, vec![("id", "a b".to_string())]);
        assert!(match_path("/project/{id}", "/project", true).is_none());
        assert!(match_path("/project/{id}", "/projects/x", true).is_none());
        assert!(match_path("/project/{id}", "/project/", true).is_none());
        assert!(match_path("/project/{id}", "/api/project/x", true).is_none());
        assert!(match_path("/project/{id}", "//project/x", true).is_none());
        assert_eq!(
            match_path("/domains/{id}/verify", "/domains/1/verify", true).unwrap(),
            vec![("id", "1".to_string())]
        );
    }

    #[test]
    fn tails_match_under_any_prefix() {
        let p = match_path("/project/{id}", "/api/v1/project/a%20b", false).unwrap();
        assert_eq!(p, vec![("id", "a b".to_string())]);
        assert_eq!(
            match_path("/domains/{id}/verify", "/domains/7/verify", false).unwrap(),
            vec![("id", "7".to_string())]
        );
        assert_eq!(match_path("/project", "/x/project", false).unwrap(), vec![]);
        assert!(match_path("/project/{id}", "/project/", false).is_none());
        assert!(match_path("/project/{id}", "/project", false).is_none());
        assert!(match_path("/project/{id}", "/projects/x", false).is_none());
        assert!(match_path("/project/{id}", "/", false).is_none());
        assert!(match_path("/project", "", false).is_none());
        assert!(match_path("/project/{id}", "/project/%FF", false).is_none());
    }
}

#[cfg(test)]
mod future_size {
    use super::*;

    /// The largest allocation glibc's per-thread cache serves (tcache bins
    /// reach 1,032-byte requests). A larger one takes the arena path, and
    /// under its lock when another thread frees it: a request's future
    /// often is (BENCHMARKS.md, fifteenth run).
    const THREAD_CACHED: usize = 1032;

    #[test]
    fn a_request_future_fits_the_allocators_thread_cache() {
        let slipway = Slipway::builder()
            .secret(b"a future-size test secret of 32+ bytes".to_vec())
            .store(crate::MemoryStore::new())
            .build()
            .expect("builds");
        let req = || {
            http::Request::builder()
                .uri("/project/p1")
                .body(Full::new(Bytes::new()))
                .expect("request")
        };
        let mut route = routes(&slipway).remove(0).service;
        let answer = tower::Service::call(&mut route, req());
        let mut all = SlipwayService::new(slipway);
        let routed = tower::Service::call(&mut all, req());
        for (what, size) in [
            ("an endpoint's", std::mem::size_of_val(&*answer)),
            ("the router's", std::mem::size_of_val(&*routed)),
        ] {
            assert!(
                size <= THREAD_CACHED,
                "{what} request future takes {size} bytes (at most {THREAD_CACHED})"
            );
        }
    }
}

//! The fake's request handlers, with GitHub's response shapes and headers.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};

use super::{random, Endpoint, Failure, FakeState, FakeUser, Grant, Shared};

/// Counts the hit and applies a configured failure, if any.
async fn gate(state: &Shared, endpoint: Endpoint) -> Option<Response> {
    let failure = {
        let mut st = state.lock().unwrap();
        *st.hits.entry(endpoint).or_default() += 1;
        st.failures.get(&endpoint).copied()
    };
    match failure? {
        Failure::ServerError => Some(
            (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response(),
        ),
        Failure::Hang => {
            std::future::pending::<()>().await;
            None
        }
        Failure::Malformed => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                r#"{"access_token": "gho_trunc"#,
            )
                .into_response(),
        ),
        // The normal reply, padded by `pad_huge`.
        Failure::Huge => None,
    }
}

/// With [`Failure::Huge`] set for the endpoint: its normal reply with 2 MiB
/// of JSON whitespace in front, in chunks, with no `Content-Length` (a
/// client that read it whole would parse it fine).
pub(super) async fn pad_huge(
    State(state): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use futures::StreamExt as _;
    let endpoint = match req.uri().path() {
        "/login/oauth/access_token" => Endpoint::Token,
        "/user" => Endpoint::User,
        "/user/emails" => Endpoint::Emails,
        _ => return next.run(req).await,
    };
    let huge = state.lock().unwrap().failures.get(&endpoint) == Some(&Failure::Huge);
    let resp = next.run(req).await;
    if !huge {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let padding = futures::stream::iter(
        std::iter::repeat_n(axum::body::Bytes::from(vec![b' '; 64 * 1024]), 32)
            .map(Ok::<_, axum::Error>),
    );
    let body = padding.chain(body.into_data_stream());
    Response::from_parts(parts, axum::body::Body::from_stream(body))
}

fn oauth_error(name: &str, description: &str, anchor: &str, as_json: bool) -> Response {
    let uri = format!(
        "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#{anchor}"
    );
    if as_json {
        axum::Json(json!({"error": name, "error_description": description, "error_uri": uri}))
            .into_response()
    } else {
        let body = url_form(&[
            ("error", name),
            ("error_description", description),
            ("error_uri", &uri),
        ]);
        (
            [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
            body,
        )
            .into_response()
    }
}

fn url_form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Client credentials from the form, or from HTTP Basic auth.
fn credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(basic) {
            let text = String::from_utf8_lossy(&bytes).to_string();
            if let Some((id, secret)) = text.split_once(':') {
                let dec = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                return (dec(id), dec(secret));
            }
        }
    }
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    (get("client_id"), get("client_secret"))
}

pub(super) async fn token(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = gate(&state, Endpoint::Token).await {
        return r;
    }
    let as_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let (client_id, client_secret) = credentials(&headers, &form);
    let mut st = state.lock().unwrap();
    if st.apps.get(&client_id) != Some(&client_secret) || client_secret.is_empty() {
        return oauth_error(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
            "incorrect-client-credentials",
            as_json,
        );
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let grant = match st.codes.get(&code) {
        Some((owner, _)) if *owner == client_id => st.codes.remove(&code).map(|(_, g)| g),
        _ => None,
    };
    let Some(grant) = grant else {
        return oauth_error(
            "bad_verification_code",
            "The code passed is incorrect or expired.",
            "bad-verification-code",
            as_json,
        );
    };
    let access_token = random("gho_", 36);
    let scope = grant.scopes.clone().unwrap_or_default().join(",");
    st.tokens.insert(access_token.clone(), grant);
    st.secrets.insert(access_token.clone());
    if as_json {
        axum::Json(json!({"access_token": access_token, "token_type": "bearer", "scope": scope}))
            .into_response()
    } else {
        let body = url_form(&[
            ("access_token", &access_token),
            ("scope", &scope),
            ("token_type", "bearer"),
        ]);
        (
            [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
            body,
        )
            .into_response()
    }
}

fn api_error(status: StatusCode, message: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.as_u16().to_string(),
        })),
    )
        .into_response();
    common_headers(r.headers_mut());
    r
}

fn common_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    h.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
}

/// The grant and user behind the request's token, or the 401 to answer.
fn authenticate(st: &FakeState, headers: &HeaderMap) -> Result<(Grant, FakeUser), Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        })
        .unwrap_or("");
    let grant = st
        .tokens
        .get(token)
        .cloned()
        .ok_or_else(|| Box::new(api_error(StatusCode::UNAUTHORIZED, "Bad credentials")))?;
    let user = st
        .users
        .get(&grant.user_id)
        .cloned()
        .ok_or_else(|| Box::new(api_error(StatusCode::UNAUTHORIZED, "Bad credentials")))?;
    Ok((grant, user))
}

fn with_scopes(mut r: Response, grant: &Grant) -> Response {
    common_headers(r.headers_mut());
    if let Some(scopes) = &grant.scopes {
        let v = HeaderValue::from_str(&scopes.join(", ")).unwrap();
        r.headers_mut().insert("x-oauth-scopes", v);
        r.headers_mut()
            .insert("x-accepted-oauth-scopes", HeaderValue::from_static(""));
    }
    r
}

pub(super) async fn user(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&state, Endpoint::User).await {
        return r;
    }
    let st = state.lock().unwrap();
    let (grant, u) = match authenticate(&st, &headers) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let public_email: Value = u
        .emails
        .iter()
        .find(|e| e.1)
        .map(|e| json!(e.0))
        .unwrap_or(Value::Null);
    let body = json!({
        "login": u.login,
        "id": u.id,
        "node_id": format!("MDQ6VXNlcj{}", u.id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", u.id),
        "gravatar_id": "",
        "url": format!("https://api.github.com/users/{}", u.login),
        "html_url": format!("https://github.com/{}", u.login),
        "type": "User",
        "site_admin": false,
        "name": u.name,
        "company": null,
        "blog": "",
        "location": null,
        "email": public_email,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "public_repos": 2,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": "2011-01-25T18:44:36Z",
        "updated_at": "2024-01-22T12:00:00Z"
    });
    with_scopes(axum::Json(body).into_response(), &grant)
}

pub(super) async fn emails(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&state, Endpoint::Emails).await {
        return r;
    }
    let st = state.lock().unwrap();
    let (grant, u) = match authenticate(&st, &headers) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    if let Some(scopes) = &grant.scopes {
        if !scopes.iter().any(|s| s == "user:email" || s == "user") {
            return with_scopes(api_error(StatusCode::NOT_FOUND, "Not Found"), &grant);
        }
    }
    let list: Vec<Value> = u
        .emails
        .iter()
        .map(|(email, primary, verified)| {
            json!({
                "email": email,
                "primary": primary,
                "verified": verified,
                "visibility": if *primary { json!("public") } else { Value::Null },
            })
        })
        .collect();
    with_scopes(axum::Json(Value::Array(list)).into_response(), &grant)
}

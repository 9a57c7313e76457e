//! Live project updates over WebSocket, independent of any web framework.
//!
//! An adapter mounts `GET /ws` and does three things:
//!
//! 1. calls [`Slipway::ws_accept`] with the request's headers and query
//!    string **before** upgrading; an `Err` is a complete JSON error response
//!    (401 for a missing, bad or expired token, 400 for a bad `since`, 503
//!    when the store is down) to send instead of upgrading;
//! 2. upgrades the connection with its framework;
//! 3. converts the framework's messages to and from [`WsMessage`] and hands
//!    the resulting `Stream + Sink` to [`WsSession::run`].
//!
//! ```
//! use futures::{Sink, Stream};
//! use slipway_core::{http::Response, ws::WsMessage, Slipway};
//!
//! /// Refuses with an HTTP response, or upgrades and runs the feed.
//! async fn on_ws_request<S, E>(
//!     slipway: &Slipway,
//!     headers: &http::HeaderMap,
//!     query: Option<&str>,
//!     upgrade: impl std::future::Future<Output = S>,
//! ) -> Option<Response>
//! where
//!     S: Stream<Item = Result<WsMessage, E>> + Sink<WsMessage> + Send + Unpin,
//! {
//!     match slipway.ws_accept(headers, query).await {
//!         Err(refusal) => Some(refusal), // 401/400/503 JSON, no upgrade
//!         Ok(session) => {
//!             session.run(upgrade.await).await;
//!             None
//!         }
//!     }
//! }
//! ```
//!
//! # Protocol
//!
//! The client authenticates with `?token=<jwt>` or `Authorization: Bearer
//! <jwt>` (the query parameter wins when both are present) and may pass
//! `?since=<eventId>` to resume. Every server → client frame is a JSON text
//! message:
//!
//! | frame | when |
//! |---|---|
//! | `{"event":"connect","data":{"userId":"…","lastEventId":"41"}}` | first, once |
//! | `{"event":"project.update","id":"42","data":{"projectId":"…","type":"CREATE","data":{…}}}` | a project of the user changed |
//! | `{"event":"resync"}` | events were lost: refetch `GET /project` |
//!
//! - Event ids are decimal **strings** of an unsigned 64-bit integer, both in
//!   `id` and in `lastEventId`; they increase with every event of the
//!   instance (so a user's ids have gaps: other users' events are not sent).
//! - `lastEventId` is the id the feed starts after: `since` when given (the
//!   newest event when `since` is past it), else the newest event of the
//!   instance at connect time. Remember the `id` of
//!   the last `project.update` you processed and reconnect with
//!   `?since=<that id>` (or `lastEventId` when none came): you get exactly
//!   the events you missed, in order, then live ones — no gap, no duplicate.
//! - `type` is `CREATE`, `UPDATE` (the project or one of its network
//!   connections changed) or `DELETE`; `data` is the project as
//!   `GET /project/{id}` shows it, or `{"id": "…"}` on `DELETE`.
//! - A user only receives events of projects they own (for `DELETE`: owned at
//!   the time of deletion), whatever they ask for.
//! - `resync` comes when `since` is older than the retained event log or past
//!   its newest event, when the store's log goes back (a restore, lost data),
//!   or when the client reads too slowly and more than
//!   [`Config::ws_buffer`](crate::Config::ws_buffer) frames wait for it (its
//!   waiting frames are dropped). The feed continues after it; the client
//!   should refetch its projects.
//! - The server pings every [`Config::ws_ping_interval`](crate::Config::ws_ping_interval)
//!   (30 s); a peer that does not answer within
//!   [`Config::ws_pong_timeout`](crate::Config::ws_pong_timeout) (10 s), or
//!   that does not take a frame within that time, is dropped (close code
//!   [`CLOSE_PING_TIMEOUT`], when it can still be sent).
//! - When the access token expires the server closes with code
//!   [`CLOSE_TOKEN_EXPIRED`] (4001) and reason `token expired`; reconnect
//!   with a fresh token and `since`.
//! - If the event log cannot be read (store down), the server closes with
//!   1011; reconnect with `since`.
//! - Text and binary messages from the client are ignored: the socket is
//!   server → client only. One larger than
//!   [`Config::ws_max_message_size`](crate::Config::ws_max_message_size)
//!   (16 KiB) closes the connection with [`CLOSE_TOO_BIG`] (1009).
//! - A user may hold
//!   [`Config::ws_max_connections_per_user`](crate::Config::ws_max_connections_per_user)
//!   (16) connections on one node; more are refused with 429 before the
//!   upgrade. A user may open
//!   [`Config::ws_connects_per_minute`](crate::Config::ws_connects_per_minute)
//!   (60) connections per minute (all nodes of a shared store together);
//!   more are refused with 429 too.
//! - When the server shuts down ([`Slipway::shutdown_websockets`]) every
//!   connection is closed with [`CLOSE_GOING_AWAY`] (1001); reconnect with
//!   `since` to another node or after the restart.
//!
//! # What the transport must do
//!
//! Answering the client's pings and replying to its close frame are the
//! transport's job (tungstenite, used by axum and warp, does both
//! automatically); [`WsSession::run`] ignores incoming pings and ends when a
//! close frame, an error or the end of the stream arrives.

use http::HeaderMap;

use crate::http::{ApiError, AuthRequest};
use crate::model::UserId;
use crate::services::Subscription;
use crate::Slipway;

mod checks;
mod feed;
mod frames;
mod registry;
mod session;
#[cfg(test)]
mod tests;

/// Close code sent when the access token expires (reason `token expired`).
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Close code sent to a peer that left a ping unanswered (reason `ping timeout`).
pub const CLOSE_PING_TIMEOUT: u16 = 4002;
/// Close code sent when the event log cannot be read (reason `event stream unavailable`).
pub const CLOSE_FEED_FAILED: u16 = 1011;
/// Close code sent to every connection when the server shuts down (reason `server shutting down`).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code sent when a client's message is over the size limit (reason `message too big`).
pub const CLOSE_TOO_BIG: u16 = 1009;

pub(crate) use checks::Checks;
pub(crate) use registry::Registry;

/// The answer to an authenticated `GET /ws` that is not a WebSocket upgrade
/// (missing `Connection: upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Key`
/// or version 13): 426 with Slipway's JSON error body. Adapters answer it so
/// every host words the refusal the same way.
pub fn upgrade_required() -> crate::http::Response {
    let mut resp = crate::ApiError::new(
        http::StatusCode::UPGRADE_REQUIRED,
        "/ws needs a WebSocket upgrade: send Connection: Upgrade, Upgrade: websocket, \
         Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key",
    )
    .into_response();
    resp.headers_mut().insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    resp
}

/// A user's connection slot, given back when the session ends.
struct Slot {
    slipway: Slipway,
    user_id: UserId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slipway.inner.ws_registry.release(&self.user_id);
    }
}

/// A WebSocket message, as adapters convert it from and to their framework's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A UTF-8 text message (every frame the server sends).
    Text(String),
    /// A binary message (ignored when received).
    Binary(Vec<u8>),
    /// A ping with its payload.
    Ping(Vec<u8>),
    /// A pong with its payload.
    Pong(Vec<u8>),
    /// A close message with an optional code and reason.
    Close(Option<(u16, String)>),
}

/// An authenticated WebSocket connection that has not started yet; made by
/// [`Slipway::ws_accept`], driven by [`WsSession::run`].
///
/// It is already subscribed to the event log, so no event written after
/// [`Slipway::ws_accept`] returned can be missed during the upgrade.
pub struct WsSession {
    slipway: Slipway,
    user_id: UserId,
    /// Token expiry, seconds since the epoch.
    expires_at: i64,
    /// The token's session epoch (`None`: a principal the host built).
    epoch: Option<u32>,
    /// The API token's hash when the socket was opened with one.
    api_token: Option<String>,
    last_event_id: u64,
    events: Subscription,
    /// Declared last, so a session dropped unrun gives its slot back after
    /// its subscription (`Slipway::shutdown` relies on that order).
    slot: Slot,
}

impl std::fmt::Debug for WsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsSession")
            .field("user_id", &self.user_id)
            .field("last_event_id", &self.last_event_id)
            .finish_non_exhaustive()
    }
}

impl WsSession {
    /// The authenticated user's id.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// The id the feed starts after (sent as `lastEventId`).
    pub fn last_event_id(&self) -> u64 {
        self.last_event_id
    }
}

impl Slipway {
    /// Closes every WebSocket of this instance with [`CLOSE_GOING_AWAY`]
    /// (1001) and resolves when all have ended; new ones are refused with
    /// 503 from then on. Hosts call it on shutdown, next to stopping their
    /// HTTP server, and bound it with their grace period. The webhook
    /// delivery worker of this instance stops too (abandoning the attempts
    /// under way, whose events are delivered again later, and finishing the
    /// store calls under way) and gives its leases back.
    ///
    /// Everything is told to stop when this is called; the returned future
    /// only waits (it holds no handle of the instance, so it can be spawned).
    pub fn shutdown_websockets(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let worker = self.inner.webhook_worker.shut_down();
        let sockets = self.inner.ws_registry.shut_down();
        async move {
            tokio::join!(worker, sockets);
        }
    }

    /// How many WebSocket sessions are open on this instance.
    pub fn open_websockets(&self) -> usize {
        self.inner.ws_registry.open()
    }

    /// Checks a WebSocket request before the upgrade: authenticates the token
    /// (`?token=` or `Authorization: Bearer`), parses `?since=` and subscribes
    /// to the event log.
    ///
    /// `query` is the raw query string (without `?`). On `Err`, send the
    /// response as it is (a JSON error: 401 with `WWW-Authenticate: Bearer`
    /// for a missing, invalid or expired token; 400 when `since` is not an
    /// event id; 503 when the store is unavailable) and do not upgrade.
    pub async fn ws_accept(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<WsSession, crate::http::Response> {
        let started = std::time::Instant::now();
        let answer = self
            .ws_accept_inner(headers, query)
            .await
            .map_err(ApiError::into_response);
        let status = match &answer {
            Ok(_) => 101,
            Err(resp) => resp.status().as_u16(),
        };
        crate::metrics::http_request(&http::Method::GET, "/ws", status, started.elapsed());
        answer
    }

    async fn ws_accept_inner(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<WsSession, ApiError> {
        crate::http::check_header_size(self, headers)?;
        let registry = &self.inner.ws_registry;
        if registry.is_shutting_down() {
            return Err(ApiError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "The server is shutting down; reconnect shortly",
            ));
        }
        let params: Vec<(String, String)> = query
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let request = AuthRequest {
            headers,
            query_token: param("token"),
        };
        let principal = match self.inner.authenticator.authenticate(self, &request).await {
            Ok(Some(principal)) => principal,
            Ok(None) => {
                return Err(ApiError::unauthorized(
                    "An access token is required: connect to /ws?token=<token> or send \
                     Authorization: Bearer <token>",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        // The user must still exist (and the system principal owns no feed).
        let user = self.inner.core.user_of(&principal).await?;
        let since = match param("since") {
            None => None,
            Some(s) => Some(s.parse::<u64>().map_err(|_| {
                ApiError::bad_request(
                    "since must be an event id (a non-negative integer, the id of the last \
                     project.update frame received)",
                )
            })?),
        };
        let max = self.config().ws_max_connections_per_user;
        if !registry.acquire(&user.id, max) {
            crate::metrics::rate_limited("ws_connections");
            return Err(ApiError::too_many_requests(
                format!(
                    "Too many open WebSocket connections for this user (at most {max}); close \
                     one before opening another"
                ),
                std::time::Duration::from_secs(5),
            ));
        }
        let slot = Slot {
            slipway: self.clone(),
            user_id: user.id.clone(),
        };
        // Connects per minute (after the open-connection cap, so refused
        // attempts do not count); the slot is given back on refusal.
        self.events().admit_connection(&user.id).await?;
        let events = self.events().subscribe(&principal, since).await?;
        let start = events.start();
        Ok(WsSession {
            slipway: self.clone(),
            user_id: user.id,
            expires_at: principal.expires_at().unwrap_or(i64::MAX),
            epoch: principal.session_epoch(),
            api_token: principal.grant().map(|g| g.token_hash.clone()),
            last_event_id: start,
            events,
            slot,
        })
    }
}

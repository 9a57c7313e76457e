//! `GET /ws`: core checks the request before it is upgraded; then core's
//! protocol runs over the upgraded connection, its messages converted both
//! ways.
//!
//! The upgrade is done here (hyper's upgrade and tokio-tungstenite, as
//! `warp::ws()` and axum do it) rather than with `warp::ws()`, whose socket
//! cannot be configured with a read buffer size: tungstenite's default is
//! 128 KiB, which it zero-fills before each read, so every open socket cost
//! 137 KiB of server memory, against 9.4 KiB now and through the axum adapter
//! (`slipway-bench --only idle`), and a write to 10,000 sockets cost the
//! server twice the CPU it does now (BENCHMARKS.md, twentieth run).

use futures::{future, SinkExt, StreamExt};
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION};
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use slipway_core::ws::WsMessage;
use slipway_core::Slipway;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// Read buffer of each socket. Clients send only pongs and close frames;
/// the buffer still grows for a larger frame (up to the message limit).
const READ_BUFFER: usize = 4 * 1024;

/// `GET /ws` (other methods fall through to core, which answers them).
pub(crate) fn route(
    slipway: Slipway,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("ws")
        .and(warp::get())
        .and(warp::header::headers_cloned())
        .and(crate::raw_query())
        .and(warp::ext::optional::<OnUpgrade>())
        .then(move |headers: HeaderMap, query: Option<String>, upgrade| {
            let slipway = slipway.clone();
            async move { accept(slipway, headers, query, upgrade).await }
        })
}

async fn accept(
    slipway: Slipway,
    headers: HeaderMap,
    query: Option<String>,
    upgrade: Option<OnUpgrade>,
) -> Response {
    let scoped = headers.clone();
    slipway_core::http::with_request_id(&scoped, answer(slipway, headers, query, upgrade)).await
}

async fn answer(
    slipway: Slipway,
    headers: HeaderMap,
    query: Option<String>,
    upgrade: Option<OnUpgrade>,
) -> Response {
    let session = match slipway.ws_accept(&headers, query.as_deref()).await {
        Ok(session) => session,
        Err(refusal) => return crate::into_reply(refusal).await.into_response(),
    };
    let Some(key) = websocket_key(&headers) else {
        return crate::into_reply(slipway_core::ws::upgrade_required())
            .await
            .into_response();
    };
    let Some(upgrade) = upgrade else {
        // No hyper upgrade handle came with the request (it was built by
        // hand, not read from a connection): the request was right, the
        // host cannot serve it.
        let refusal = slipway_core::http::ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this server cannot upgrade connections to WebSockets",
        );
        return crate::into_reply(refusal.into_response())
            .await
            .into_response();
    };
    // The transport cuts off messages over twice the limit; core closes
    // those over the limit with 1009.
    let max = slipway.config().ws_max_message_size.saturating_mul(2);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    tokio::spawn(async move {
        // A connection that closes before the switch ends here; the
        // session (and its connection slot) is dropped with it.
        let Ok(upgraded) = upgrade.await else { return };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        let socket = socket.map(|m| m.map(from_tungstenite)).with(|m| {
            future::ready(Ok::<_, tokio_tungstenite::tungstenite::Error>(
                to_tungstenite(m),
            ))
        });
        session.run(socket).await;
    });
    let mut resp = Response::new(Default::default());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(SEC_WEBSOCKET_ACCEPT, key);
    resp
}

/// The `Sec-WebSocket-Accept` answering a valid upgrade request (the checks
/// of `warp::ws()`: `Connection` has `upgrade`, `Upgrade: websocket`,
/// `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key`); `None` otherwise.
fn websocket_key(headers: &HeaderMap) -> Option<HeaderValue> {
    let connection = headers.get(CONNECTION)?.to_str().ok()?;
    if !connection
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    {
        return None;
    }
    if !headers
        .get(http::header::UPGRADE)?
        .as_bytes()
        .eq_ignore_ascii_case(b"websocket")
    {
        return None;
    }
    if headers.get(SEC_WEBSOCKET_VERSION)?.as_bytes() != b"13" {
        return None;
    }
    let key = headers.get(SEC_WEBSOCKET_KEY)?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes())).ok()
}

fn to_tungstenite(m: WsMessage) -> Message {
    match m {
        WsMessage::Text(t) => Message::text(t),
        WsMessage::Binary(b) => Message::binary(b),
        WsMessage::Ping(p) => Message::Ping(p.into()),
        WsMessage::Pong(p) => Message::Pong(p.into()),
        WsMessage::Close(c) => Message::Close(c.map(|(code, reason)| CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        })),
    }
}

fn from_tungstenite(m: Message) -> WsMessage {
    match m {
        Message::Text(t) => WsMessage::Text(t.as_str().to_owned()),
        Message::Binary(b) => WsMessage::Binary(b.to_vec()),
        Message::Ping(p) => WsMessage::Ping(p.to_vec()),
        Message::Pong(p) => WsMessage::Pong(p.to_vec()),
        Message::Close(c) => {
            WsMessage::Close(c.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
        }
        // Raw frames are never yielded when reading.
        Message::Frame(_) => WsMessage::Binary(Vec::new()),
    }
}

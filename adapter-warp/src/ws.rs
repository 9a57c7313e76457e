//! `GET /ws`: core checks the request before warp upgrades it; then core's
//! protocol runs over warp's socket, its messages converted both ways.

use futures::{future, SinkExt, StreamExt};
use http::HeaderMap;
use slipway_core::ws::WsMessage;
use slipway_core::Slipway;
use warp::filters::ws::{Message, Ws};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// `GET /ws` (other methods fall through to core, which answers them).
pub(crate) fn route(
    slipway: Slipway,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    // Missing upgrade headers must not reject: core answers first (401).
    let upgrade = warp::ws().map(Some).or(warp::any().map(|| None)).unify();
    warp::path!("ws")
        .and(warp::get())
        .and(warp::header::headers_cloned())
        .and(crate::raw_query())
        .and(upgrade)
        .then(move |headers: HeaderMap, query: Option<String>, upgrade| {
            let slipway = slipway.clone();
            async move { accept(slipway, headers, query, upgrade).await }
        })
}

async fn accept(
    slipway: Slipway,
    headers: HeaderMap,
    query: Option<String>,
    upgrade: Option<Ws>,
) -> Response {
    let scoped = headers.clone();
    slipway_core::http::with_request_id(&scoped, answer(slipway, headers, query, upgrade)).await
}

async fn answer(
    slipway: Slipway,
    headers: HeaderMap,
    query: Option<String>,
    upgrade: Option<Ws>,
) -> Response {
    let session = match slipway.ws_accept(&headers, query.as_deref()).await {
        Ok(session) => session,
        Err(refusal) => return crate::into_reply(refusal).await.into_response(),
    };
    let Some(upgrade) = upgrade else {
        return crate::into_reply(slipway_core::ws::upgrade_required())
            .await
            .into_response();
    };
    // The transport cuts off messages over twice the limit; core closes
    // those over the limit with 1009.
    let max = slipway.config().ws_max_message_size.saturating_mul(2);
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            let socket = socket
                .map(|m| m.map(from_warp))
                .with(|m| future::ready(Ok::<_, warp::Error>(to_warp(m))));
            session.run(socket)
        })
        .into_response()
}

fn to_warp(m: WsMessage) -> Message {
    match m {
        WsMessage::Text(t) => Message::text(t),
        WsMessage::Binary(b) => Message::binary(b),
        WsMessage::Ping(p) => Message::ping(p),
        WsMessage::Pong(p) => Message::pong(p),
        WsMessage::Close(Some((code, reason))) => Message::close_with(code, reason),
        WsMessage::Close(None) => Message::close(),
    }
}

fn from_warp(m: Message) -> WsMessage {
    if m.is_close() {
        return WsMessage::Close(m.close_frame().map(|(c, r)| (c, r.to_owned())));
    }
    if m.is_text() {
        return WsMessage::Text(m.to_str().unwrap_or_default().to_owned());
    }
    let ping = m.is_ping();
    let pong = m.is_pong();
    let bytes = m.into_bytes().to_vec();
    match (ping, pong) {
        (true, _) => WsMessage::Ping(bytes),
        (_, true) => WsMessage::Pong(bytes),
        _ => WsMessage::Binary(bytes),
    }
}

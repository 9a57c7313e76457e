//! [`WsSession::run`]: the protocol loop over a generic `Stream + Sink`.

use std::ops::ControlFlow;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::{sleep_until, timeout, Instant, MissedTickBehavior};

use super::feed::{Out, Queue};
use super::CLOSE_TOO_BIG;
use super::{frames, WsMessage, WsSession};
use super::{CLOSE_FEED_FAILED, CLOSE_GOING_AWAY, CLOSE_PING_TIMEOUT, CLOSE_TOKEN_EXPIRED};

/// How long to wait for the peer's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

impl WsSession {
    /// Runs the feed on an upgraded connection until the client leaves, the
    /// token expires, the peer stops answering pings, or the event log fails.
    ///
    /// `socket` yields the client's messages (an `Err` ends the session) and
    /// takes the server's. The session needs no task of its own: it takes
    /// the user's events whenever the socket is not ready for more, into a
    /// bounded queue of [`Config::ws_buffer`](crate::Config::ws_buffer)
    /// frames, and writes them as the socket accepts them. See the
    /// [module documentation](super) for the protocol.
    pub async fn run<S, E>(self, socket: S)
    where
        S: Stream<Item = Result<WsMessage, E>> + Sink<WsMessage> + Send + Unpin,
    {
        // The slot comes first: bindings are dropped in reverse order, so it
        // is given back last, once the event subscription and the instance
        // handle are gone. `Slipway::shutdown` waits for the slots, then
        // stops the hub only if no subscription is left.
        let WsSession {
            slot: _slot,
            slipway,
            user_id,
            expires_at,
            epoch,
            api_token,
            last_event_id,
            mut events,
        } = self;
        // The node's task rechecks the access (user, epoch, API token) of
        // every socket and wakes this one only when it ended. Principals a
        // host built carry no epoch: only the user's existence and disabled
        // flag count for them.
        let watched = super::Checks::watch(
            &slipway.inner,
            super::checks::Key {
                user_id: user_id.clone(),
                epoch: epoch.unwrap_or(u32::MAX),
                api_token,
            },
        );
        let config = slipway.config();
        let max_message = config.ws_max_message_size;
        let shutdown = slipway.inner.ws_registry.shutdown_signal();
        let send_timeout = config.ws_pong_timeout;
        let ping_every = config.ws_ping_interval;
        let mut queue = Queue::new(config.ws_buffer);
        // Until the event stream ends or fails.
        let mut feed_open = true;
        // Frames written to the sink that it has not flushed yet.
        let mut unflushed = false;
        // Armed while the socket holds back frames: the peer must take
        // them by then.
        let stall = sleep_until(Instant::now());
        tokio::pin!(stall);
        let mut stalled = false;
        let (mut tx, rx) = socket.split();
        // The client's messages, polled only after the socket woke the task:
        // `select_all` (a `FuturesUnordered` inside) keeps a waker of its own
        // per stream and skips one that did not fire. Every pass of the loop
        // below polls this branch, once or twice per event delivered; through
        // the WebSocket stack, each such poll of an idle socket costs a lock,
        // a zero-filled read buffer and a `read` that finds nothing.
        let mut rx = futures::stream::select_all([rx]);

        let hello = WsMessage::Text(frames::connect(&user_id, last_event_id));
        if !send(&mut tx, hello, send_timeout).await {
            return;
        }

        let pong_due = sleep_until(Instant::now());
        tokio::pin!(pong_due);
        let mut awaiting_pong = false;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The token's expiry, the node's shutdown, the end of the access and
        // the ping timer, as one stream that, like `rx`, polls only what woke
        // the task: they fire seldom, and each pass of the loop would
        // otherwise poll all four. The shutdown signal is a node-wide watch
        // channel, so its future is made once (each new one registers with,
        // and leaves, a list shared by every session).
        let expires_in = until_epoch_secs(expires_at);
        let mut ticks = futures::stream::select_all([
            futures::stream::once(tokio::time::sleep(expires_in))
                .map(|()| Tick::Expired)
                .boxed(),
            futures::stream::once(going_away(shutdown))
                .map(|()| Tick::GoingAway)
                .boxed(),
            futures::stream::once(watched.revoked())
                .map(|()| Tick::Revoked)
                .boxed(),
            futures::stream::unfold(ping, |mut ping| async {
                ping.tick().await;
                Some((Tick::Ping, ping))
            })
            .boxed(),
        ]);

        let close = loop {
            tokio::select! {
                biased;
                Some(tick) = ticks.next() => match tick {
                    Tick::Expired => break Some((CLOSE_TOKEN_EXPIRED, "token expired")),
                    Tick::GoingAway => break Some((CLOSE_GOING_AWAY, "server shutting down")),
                    Tick::Revoked => break Some((CLOSE_TOKEN_EXPIRED, "token revoked")),
                    Tick::Ping => {
                        if !send(&mut tx, WsMessage::Ping(Vec::new()), send_timeout).await {
                            break None;
                        }
                        if !awaiting_pong {
                            awaiting_pong = true;
                            pong_due.as_mut().reset(Instant::now() + config.ws_pong_timeout);
                        }
                    }
                },
                () = &mut pong_due, if awaiting_pong => {
                    tracing::debug!("websocket peer did not answer a ping; dropping it");
                    break Some((CLOSE_PING_TIMEOUT, "ping timeout"));
                }
                msg = rx.next() => match msg {
                    Some(Ok(WsMessage::Pong(_))) => awaiting_pong = false,
                    Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break None,
                    Some(Ok(WsMessage::Text(t))) if t.len() > max_message => {
                        break Some((CLOSE_TOO_BIG, "message too big"));
                    }
                    Some(Ok(WsMessage::Binary(b))) if b.len() > max_message => {
                        break Some((CLOSE_TOO_BIG, "message too big"));
                    }
                    // Pings are answered by the transport; the socket is
                    // server -> client only, so text and binary are ignored.
                    Some(Ok(_)) => {}
                },
                delivery = deliver(&mut tx, &mut queue, &mut unflushed, stalled),
                    if !queue.is_empty() || unflushed =>
                {
                    if let ControlFlow::Break(close) =
                        delivered(delivery, &mut stalled, stall.as_mut(), send_timeout)
                    {
                        break close;
                    }
                }
                item = events.next_shared(), if feed_open => {
                    match item {
                        Some(Ok(item)) => queue.push(Out::of(item)),
                        ended => {
                            if let Some(Err(e)) = ended {
                                tracing::warn!(error = %e, "event stream failed; closing websocket");
                            }
                            feed_open = false;
                            queue.push(Out::End);
                        }
                    }
                    // Write it now, in this pass, rather than in the next:
                    // every pass polls each branch above, and a fan-out to
                    // many sockets pays that once per socket. Pending leaves
                    // the socket's waker registered, like the branch above.
                    let now = futures::poll!(deliver(&mut tx, &mut queue, &mut unflushed, stalled));
                    if let Poll::Ready(delivery) = now {
                        if let ControlFlow::Break(close) =
                            delivered(delivery, &mut stalled, stall.as_mut(), send_timeout)
                        {
                            break close;
                        }
                    }
                }
                () = &mut stall, if stalled => {
                    tracing::debug!("websocket peer too slow; dropping it");
                    break None;
                }
            }
        };

        if let Some((code, reason)) = close {
            let frame = WsMessage::Close(Some((code, reason.to_string())));
            if send(&mut tx, frame, send_timeout.min(CLOSE_GRACE)).await {
                // Give the peer a moment to answer the closing handshake.
                let _ = timeout(CLOSE_GRACE, async {
                    while let Some(Ok(msg)) = rx.next().await {
                        if matches!(msg, WsMessage::Close(_)) {
                            break;
                        }
                    }
                })
                .await;
            }
        }
    }
}

/// Acts on what a delivery step ended with: `Break` with the close frame to
/// send (`None`: the socket is gone) when the session must end.
fn delivered(
    delivery: Delivery,
    stalled: &mut bool,
    stall: std::pin::Pin<&mut tokio::time::Sleep>,
    send_timeout: Duration,
) -> ControlFlow<Option<(u16, &'static str)>> {
    match delivery {
        Delivery::Flushed => *stalled = false,
        Delivery::Waiting => {
            // The socket holds back frames: the peer must take one by the
            // deadline (a fresh one after each it took).
            *stalled = true;
            stall.reset(Instant::now() + send_timeout);
        }
        Delivery::End => {
            return ControlFlow::Break(Some((CLOSE_FEED_FAILED, "event stream unavailable")))
        }
        Delivery::Gone => return ControlFlow::Break(None),
    }
    ControlFlow::Continue(())
}

/// What the session's seldom-firing stream (`ticks`) says.
enum Tick {
    /// The token expired.
    Expired,
    /// The node is shutting down.
    GoingAway,
    /// The node's check found the socket's access ended.
    Revoked,
    /// Time to ping the peer.
    Ping,
}

/// What a delivery step ended with.
enum Delivery {
    /// Every queued frame is written and flushed.
    Flushed,
    /// The socket holds back a frame: it took one in this step, or no
    /// deadline is armed yet.
    Waiting,
    /// The event stream ended; the frames before it are written.
    End,
    /// The socket failed.
    Gone,
}

/// Writes the queued frames one at a time, each flushed before the next is
/// started (so every frame is bounded by the peer's deadline on its own).
/// Pending only while the socket holds back a frame, took none in this step,
/// and `armed` (its deadline is running).
fn deliver<'a, T>(
    tx: &'a mut T,
    queue: &'a mut Queue,
    unflushed: &'a mut bool,
    armed: bool,
) -> impl std::future::Future<Output = Delivery> + 'a
where
    T: Sink<WsMessage> + Unpin,
{
    std::future::poll_fn(move |cx| poll_deliver(cx, tx, queue, unflushed, armed))
}

fn poll_deliver<T>(
    cx: &mut Context<'_>,
    tx: &mut T,
    queue: &mut Queue,
    unflushed: &mut bool,
    armed: bool,
) -> Poll<Delivery>
where
    T: Sink<WsMessage> + Unpin,
{
    let mut progress = false;
    let waiting = |progress: bool| match progress || !armed {
        true => Poll::Ready(Delivery::Waiting),
        false => Poll::Pending,
    };
    loop {
        if *unflushed {
            match tx.poll_flush_unpin(cx) {
                Poll::Ready(Ok(())) => {
                    *unflushed = false;
                    progress = true;
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Delivery::Gone),
                Poll::Pending => return waiting(progress),
            }
        }
        match queue.front() {
            None => return Poll::Ready(Delivery::Flushed),
            Some(Out::End) => return Poll::Ready(Delivery::End),
            Some(_) => {}
        }
        match tx.poll_ready_unpin(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return Poll::Ready(Delivery::Gone),
            Poll::Pending => return waiting(progress),
        }
        let text = match queue.pop() {
            Some(Out::Frame(text)) => text.to_string(),
            Some(Out::Resync) => {
                crate::metrics::resync_sent();
                frames::resync()
            }
            Some(Out::End) | None => continue,
        };
        if tx.start_send_unpin(WsMessage::Text(text)).is_err() {
            return Poll::Ready(Delivery::Gone);
        }
        *unflushed = true;
        progress = true;
    }
}

/// Resolves once the server shuts down (or its signal is gone).
async fn going_away(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Sends one message within `limit`; `false` when the peer is gone or too slow.
async fn send<T>(tx: &mut T, msg: WsMessage, limit: Duration) -> bool
where
    T: Sink<WsMessage> + Unpin,
{
    matches!(timeout(limit, tx.send(msg)).await, Ok(Ok(())))
}

/// Time left until `epoch_secs` (seconds since the Unix epoch), by the wall clock.
fn until_epoch_secs(epoch_secs: i64) -> Duration {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let left_ms = epoch_secs.saturating_mul(1000).saturating_sub(now_ms);
    // Credentials without expiry (a host's session) get a far-off deadline
    // that `Instant` arithmetic cannot overflow.
    const TEN_YEARS_MS: i64 = 10 * 365 * 24 * 3600 * 1000;
    Duration::from_millis(left_ms.clamp(0, TEN_YEARS_MS) as u64)
}

//! The event log: a Redis stream `{prefix}:events` with entry ids
//! `<event id>-0`, written by the write scripts (ids are contiguous: the
//! `INCR` and the `XADD` happen in one script).
//!
//! # Reading
//!
//! Each store runs one **tail reader** (started by the first `events()` call)
//! on its OWN connection — a blocking read would stall every other command on
//! the shared one. It loops on `XREAD COUNT n BLOCK t STREAMS {prefix}:events
//! <cursor>-0`, so it sees the writes of every node, and hands each event to
//! the subscribers through a bounded broadcast channel. On an error it drops
//! its connection, reconnects with backoff and continues after the last event
//! it read, so subscribers see no gap.
//!
//! `events(since)` subscribes to that channel first, then replays the stream
//! after `since` with `XRANGE` on the shared connection, then follows the
//! channel, skipping what the replay already gave. The tail reader's starting
//! point was read before the subscription and the replay runs after it, so
//! every event is in the replay or on the channel.
//!
//! [`FeedItem::Resync`] is yielded when `since` is older than the retained log
//! (the first replayed id is more than one past `since`), when the tail
//! reader finds entries trimmed before it read them, and when a subscriber
//! falls more than `subscriber_buffer` events behind.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig, Client};
use slipway_core::error::StoreError;
use slipway_core::model::{Event, EventKind, FeedItem};
use slipway_core::store::{EventStream, StoreResult};
use tokio::sync::broadcast;

use crate::{map_err, RedisStore};

/// Entries fetched per read.
const BATCH: usize = 256;
const MIN_DELAY: Duration = Duration::from_millis(50);

/// What the tail reader broadcasts.
#[derive(Clone, Debug)]
enum Tail {
    Event(Arc<Event>),
    Resync,
}

/// The running tail reader of a store; stops when the store is dropped.
pub(crate) struct Hub {
    tx: broadcast::Sender<Tail>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn last_event_id(s: &RedisStore) -> StoreResult<u64> {
    Ok(s.get_raw("eventid")
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

pub(crate) async fn events(s: &RedisStore, since: Option<u64>) -> StoreResult<EventStream> {
    let hub = s.inner.hub.get_or_try_init(|| start_hub(s)).await?;
    let rx = hub.tx.subscribe();
    let last = last_event_id(s).await?;
    // `None` = from now on; a cursor from the future (another instance, a
    // wiped Redis) starts at the newest event too.
    let mut cursor = since.map_or(last, |since| since.min(last));
    let mut backlog = Vec::new();
    if since.is_some() {
        loop {
            let start = format!("{}-0", cursor + 1);
            let key = s.key("events");
            let mut conn = s.conn();
            let reply: StreamRangeReply = s
                .timed(async { conn.xrange_count(key, start, "+", BATCH).await })
                .await?;
            let n = reply.ids.len();
            for entry in reply.ids {
                let Some(id) = entry_id(&entry) else { continue };
                if id <= cursor {
                    continue;
                }
                if id > cursor + 1 {
                    backlog.push(Ok(FeedItem::Resync));
                }
                cursor = id;
                backlog.push(parse(id, &entry).map(FeedItem::Event));
            }
            if n < BATCH {
                break;
            }
        }
    }
    let live = futures::stream::unfold((rx, cursor), |(mut rx, mut cursor)| async move {
        loop {
            match rx.recv().await {
                Ok(Tail::Event(e)) if e.id <= cursor => continue,
                Ok(Tail::Event(e)) => {
                    cursor = e.id;
                    return Some((Ok(FeedItem::Event((*e).clone())), (rx, cursor)));
                }
                Ok(Tail::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some((Ok(FeedItem::Resync), (rx, cursor)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(futures::stream::iter(backlog).chain(live).boxed())
}

/// Starts the tail reader at the current end of the log.
async fn start_hub(s: &RedisStore) -> StoreResult<Hub> {
    let opts = &s.inner.options;
    let mut reader = Reader {
        client: s.inner.client.clone(),
        stream_key: s.key("events"),
        counter_key: s.key("eventid"),
        conn: None,
        cursor: 0,
        block: opts.block_timeout,
        connect_timeout: opts.connect_timeout,
        response_timeout: opts.block_timeout + opts.command_timeout,
        delay: MIN_DELAY,
        max_delay: opts.max_reconnect_delay.max(MIN_DELAY),
    };
    let conn = reader.connect().await?;
    reader.cursor = reader.last(&conn).await?;
    reader.conn = Some(conn);
    let (tx, _) = broadcast::channel(opts.subscriber_buffer.max(1));
    let task = tokio::spawn(reader.run(tx.clone()));
    Ok(Hub { tx, task })
}

struct Reader {
    client: Client,
    stream_key: String,
    counter_key: String,
    conn: Option<MultiplexedConnection>,
    /// Id of the last event read (or the starting point).
    cursor: u64,
    block: Duration,
    connect_timeout: Duration,
    response_timeout: Duration,
    delay: Duration,
    max_delay: Duration,
}

impl Reader {
    async fn connect(&self) -> StoreResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.connect_timeout)
            .set_response_timeout(self.response_timeout);
        match tokio::time::timeout(
            self.connect_timeout * 2,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(r) => r.map_err(map_err),
            Err(_) => Err(StoreError::unavailable("timed out connecting to Redis")),
        }
    }

    async fn last(&self, conn: &MultiplexedConnection) -> StoreResult<u64> {
        let mut conn = conn.clone();
        let v: Option<String> = conn.get(&self.counter_key).await.map_err(map_err)?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    async fn backoff(&mut self, err: &StoreError) {
        tracing::warn!(
            error = %err,
            delay_ms = self.delay.as_millis() as u64,
            "event log reader: Redis unavailable, reconnecting"
        );
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(self.max_delay);
    }

    /// Reads the stream forever, broadcasting what it reads.
    async fn run(mut self, tx: broadcast::Sender<Tail>) {
        loop {
            let mut conn = match self.conn.clone() {
                Some(c) => c,
                None => match self.reconnect(&tx).await {
                    Ok(c) => c,
                    Err(e) => {
                        self.backoff(&e).await;
                        continue;
                    }
                },
            };
            let opts = StreamReadOptions::default()
                .count(BATCH)
                .block(self.block.as_millis().max(1) as usize);
            let from = format!("{}-0", self.cursor);
            let res: redis::RedisResult<Option<StreamReadReply>> = conn
                .xread_options(&[&self.stream_key], &[&from], &opts)
                .await;
            match res {
                Ok(Some(reply)) => {
                    for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
                        self.publish(&tx, &entry);
                    }
                }
                Ok(None) => {} // nothing within `block`: read again
                Err(e) => {
                    self.conn = None;
                    self.backoff(&map_err(e)).await;
                }
            }
        }
    }

    /// Opens a new connection after an error. If the log now ends before the
    /// cursor (Redis lost data), subscribers resync from the new end.
    async fn reconnect(
        &mut self,
        tx: &broadcast::Sender<Tail>,
    ) -> StoreResult<MultiplexedConnection> {
        let conn = self.connect().await?;
        let last = self.last(&conn).await?;
        if last < self.cursor {
            let _ = tx.send(Tail::Resync);
            self.cursor = last;
        }
        self.delay = MIN_DELAY;
        tracing::info!("event log reader: reconnected to Redis");
        self.conn = Some(conn.clone());
        Ok(conn)
    }

    fn publish(&mut self, tx: &broadcast::Sender<Tail>, entry: &StreamId) {
        let Some(id) = entry_id(entry) else {
            tracing::error!(id = %entry.id, "unexpected entry id in the Redis event stream");
            return;
        };
        if id <= self.cursor {
            return;
        }
        if id > self.cursor + 1 {
            // The events in between were trimmed before this reader got them.
            let _ = tx.send(Tail::Resync);
        }
        self.cursor = id;
        match parse(id, entry) {
            // No receiver is not an error: nobody is listening.
            Ok(event) => {
                let _ = tx.send(Tail::Event(Arc::new(event)));
            }
            Err(e) => tracing::error!(error = %e, "unreadable event in the Redis event stream"),
        }
    }
}

fn entry_id(entry: &StreamId) -> Option<u64> {
    entry
        .id
        .split_once('-')
        .and_then(|(n, _)| n.parse::<u64>().ok())
}

fn parse(id: u64, entry: &StreamId) -> StoreResult<Event> {
    let field = |name: &str| -> StoreResult<String> {
        entry
            .get::<String>(name)
            .ok_or_else(|| StoreError::other(format!("event {id} lacks `{name}`")))
    };
    let kind = field("kind")?;
    Ok(Event {
        id,
        owner_id: field("owner")?,
        project_id: field("project")?,
        kind: EventKind::parse(&kind)
            .ok_or_else(|| StoreError::other(format!("event {id} has kind {kind:?}")))?,
        data: serde_json::from_str(&field("data")?).map_err(StoreError::other)?,
    })
}

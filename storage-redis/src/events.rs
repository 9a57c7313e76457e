//! The event log: a Redis stream `{prefix}:events` with entry ids
//! `<event id>-0`, written by the write scripts.
//!
//! A reader holds its OWN connection (a blocking `XREAD` would stall every
//! other command on the shared one) and loops on
//! `XREAD COUNT n BLOCK t STREAMS {prefix}:events <cursor>-0`, which answers
//! at once while entries after the cursor exist (the replay) and otherwise
//! waits for the next write from any node (live). Ids are contiguous (the
//! `INCR` and the `XADD` happen in one script), so an entry whose id is more
//! than one past the cursor means the events between were trimmed away: the
//! reader then yields [`FeedItem::Resync`] before it. On an error the reader
//! drops its connection, reconnects with backoff and continues after the last
//! event it delivered.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig, Client};
use slipway_core::error::StoreError;
use slipway_core::model::{Event, EventKind, FeedItem};
use slipway_core::store::{EventStream, StoreResult};

use crate::{map_err, RedisStore};

/// Entries fetched per read.
const BATCH: usize = 256;
const MIN_DELAY: Duration = Duration::from_millis(50);

pub(crate) async fn last_event_id(s: &RedisStore) -> StoreResult<u64> {
    Ok(s.get_raw("eventid")
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

pub(crate) async fn events(s: &RedisStore, since: Option<u64>) -> StoreResult<EventStream> {
    let mut reader = Reader {
        client: s.inner.client.clone(),
        stream_key: s.key("events"),
        counter_key: s.key("eventid"),
        conn: None,
        cursor: 0,
        buf: VecDeque::new(),
        block: s.inner.options.block_timeout,
        connect_timeout: s.inner.options.connect_timeout,
        response_timeout: s.inner.options.block_timeout + s.inner.options.command_timeout,
        delay: MIN_DELAY,
        max_delay: s.inner.options.max_reconnect_delay.max(MIN_DELAY),
    };
    let conn = reader.connect().await?;
    let last = reader.last(&conn).await?;
    reader.conn = Some(conn);
    // `None` = from now on; a cursor from the future (another instance, a
    // wiped Redis) starts at the newest event too.
    reader.cursor = since.map_or(last, |s| s.min(last));
    Ok(futures::stream::unfold(reader, |mut r| async move {
        let item = r.next().await;
        Some((item, r))
    })
    .boxed())
}

struct Reader {
    client: Client,
    stream_key: String,
    counter_key: String,
    conn: Option<MultiplexedConnection>,
    /// Id of the last event delivered (or the starting point).
    cursor: u64,
    buf: VecDeque<Result<FeedItem, StoreError>>,
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
        tracing::warn!(error = %err, delay_ms = self.delay.as_millis() as u64, "event stream: Redis unavailable, reconnecting");
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(self.max_delay);
    }

    async fn next(&mut self) -> Result<FeedItem, StoreError> {
        loop {
            if let Some(item) = self.buf.pop_front() {
                return item;
            }
            let conn = match self.conn.clone() {
                Some(c) => c,
                None => match self.reconnect().await {
                    Ok(c) => c,
                    Err(e) => {
                        self.backoff(&e).await;
                        continue;
                    }
                },
            };
            let mut c = conn;
            let opts = StreamReadOptions::default()
                .count(BATCH)
                .block(self.block.as_millis().max(1) as usize);
            let from = format!("{}-0", self.cursor);
            let res: redis::RedisResult<Option<StreamReadReply>> =
                c.xread_options(&[&self.stream_key], &[&from], &opts).await;
            match res {
                Ok(Some(reply)) => {
                    for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
                        self.push(entry);
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
    /// cursor (Redis lost data), the reader resyncs from the new end.
    async fn reconnect(&mut self) -> StoreResult<MultiplexedConnection> {
        let conn = self.connect().await?;
        let last = self.last(&conn).await?;
        if last < self.cursor {
            self.buf.push_back(Ok(FeedItem::Resync));
            self.cursor = last;
        }
        self.delay = MIN_DELAY;
        tracing::info!("event stream: reconnected to Redis");
        self.conn = Some(conn.clone());
        Ok(conn)
    }

    fn push(&mut self, entry: StreamId) {
        let Some(id) = entry
            .id
            .split_once('-')
            .and_then(|(ms, _)| ms.parse::<u64>().ok())
        else {
            self.buf.push_back(Err(StoreError::other(format!(
                "unexpected event id {:?} in the Redis stream",
                entry.id
            ))));
            return;
        };
        if id <= self.cursor {
            return;
        }
        if id > self.cursor + 1 {
            // The events in between were trimmed before this reader got them.
            self.buf.push_back(Ok(FeedItem::Resync));
        }
        self.cursor = id;
        self.buf.push_back(parse(id, &entry).map(FeedItem::Event));
    }
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

//! Following the event log: one LISTEN fan-out task per store, and the
//! per-subscriber streams [`PgStore::events`](crate::PgStore) returns.
//!
//! The table is the truth; notifications only say "look again". The fan-out
//! re-reads `WHERE id > last delivered` on each notification, after each
//! reconnect of its listener and every `poll_interval`, and broadcasts what
//! it reads. A subscriber first reads the table after its cursor, then takes
//! broadcast events whose id is exactly `cursor + 1`; anything else (it fell
//! behind, or the fan-out skipped ahead) sends it back to the table. Ids are
//! dense (see `events::append`), so a gap in the table means "pruned by
//! retention" and yields `Resync`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use slipway_core::model::{Event, EventKind, FeedItem};
use slipway_core::store::EventStream;
use slipway_core::store::StoreResult;
use slipway_core::StoreError;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::events::{self, CHANNEL};
use crate::store::PgOptions;

/// Rows read per query when catching up.
const PAGE: i64 = 500;

/// The fan-out task of one store, started by the first subscriber.
pub(crate) struct Fanout {
    sender: broadcast::Sender<Event>,
    listen: PgConnectOptions,
    poll_interval: Duration,
    /// Set once the task listens and knows where the log ends.
    ready: Arc<watch::Sender<bool>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Fanout {
    pub(crate) fn new(listen: PgConnectOptions, options: &PgOptions) -> Self {
        let (sender, _) = broadcast::channel(options.subscriber_buffer.max(1));
        Self {
            sender,
            listen,
            poll_interval: options.poll_interval,
            ready: Arc::new(watch::channel(false).0),
            task: Mutex::new(None),
        }
    }

    /// Subscribes to the broadcast, starting the task when needed, and waits
    /// until the task listens: every event committed after this returns
    /// reaches the receiver.
    pub(crate) async fn subscribe(&self, pool: &PgPool) -> StoreResult<broadcast::Receiver<Event>> {
        let rx = self.sender.subscribe();
        {
            let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
            if task.as_ref().is_none_or(|t| t.is_finished()) {
                *task = Some(tokio::spawn(run(
                    pool.clone(),
                    self.listen.clone(),
                    self.sender.clone(),
                    self.ready.clone(),
                    self.poll_interval,
                )));
            }
        }
        let mut ready = self.ready.subscribe();
        ready
            .wait_for(|r| *r)
            .await
            .map_err(|_| StoreError::other("the event fan-out task stopped"))?;
        Ok(rx)
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}

/// The fan-out loop: never returns while the store lives.
async fn run(
    pool: PgPool,
    listen: PgConnectOptions,
    sender: broadcast::Sender<Event>,
    ready: Arc<watch::Sender<bool>>,
    poll_interval: Duration,
) {
    // A pool of one, only so PgListener can reconnect by itself.
    let listener_pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(listen);
    let mut cursor: Option<i64> = None;
    let mut backoff = Backoff::default();
    loop {
        let mut listener = match PgListener::connect_with(&listener_pool).await {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "event listener could not LISTEN; retrying");
                    backoff.wait().await;
                    continue;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "event listener could not connect; retrying");
                backoff.wait().await;
                continue;
            }
        };
        // Listening: everything committed from now on will be notified; read
        // what was committed before.
        loop {
            if let Err(e) = catch_up(&pool, &mut cursor, &sender).await {
                tracing::warn!(error = %e, "event log read failed; retrying");
                backoff.wait().await;
                continue;
            }
            backoff.reset();
            ready.send_replace(true);
            match tokio::time::timeout(poll_interval, listener.try_recv()).await {
                Ok(Ok(Some(_))) => {
                    // One read covers every notification already buffered.
                    while listener.next_buffered().is_some() {}
                }
                // The connection was lost and re-established (LISTEN
                // included): notifications may have been missed, read again.
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "event listener lost its connection; reconnecting");
                    backoff.wait().await;
                    break;
                }
                // Nothing for a while: read anyway (safety net).
                Err(_) => {}
            }
        }
    }
}

/// Broadcasts every committed event after `cursor`; a `None` cursor starts
/// at the newest event (the fan-out only carries live events).
async fn catch_up(
    pool: &PgPool,
    cursor: &mut Option<i64>,
    sender: &broadcast::Sender<Event>,
) -> Result<(), sqlx::Error> {
    let mut from = match *cursor {
        Some(c) => c,
        None => {
            let last = events::last_id(pool).await?;
            *cursor = Some(last);
            return Ok(());
        }
    };
    loop {
        let page = read_page(pool, from).await?;
        let full = page.len() as i64 == PAGE;
        for event in page {
            from = event.id as i64;
            // No receiver is not an error: nobody is listening right now.
            let _ = sender.send(event);
        }
        *cursor = Some(from);
        if !full {
            return Ok(());
        }
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    owner_id: String,
    project_id: String,
    kind: String,
    data: serde_json::Value,
}

/// Up to [`PAGE`] events after `after`, in id order.
async fn read_page(pool: &PgPool, after: i64) -> Result<Vec<Event>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT id, owner_id, project_id, kind, data FROM events \
         WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(PAGE)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let kind = EventKind::parse(&r.kind).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown event kind {:?}", r.kind).into())
            })?;
            Ok(Event {
                id: u64::try_from(r.id).unwrap_or(0),
                owner_id: r.owner_id,
                project_id: r.project_id,
                kind,
                data: r.data,
            })
        })
        .collect()
}

/// Exponential backoff between retries, 100 ms to 2 s.
#[derive(Default)]
struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    async fn wait(&mut self) {
        let d = self.next.unwrap_or(Duration::from_millis(100));
        tokio::time::sleep(d).await;
        self.next = Some((d * 2).min(Duration::from_secs(2)));
    }
    fn reset(&mut self) {
        self.next = None;
    }
}

/// One subscriber's state.
struct Subscriber {
    pool: PgPool,
    rx: broadcast::Receiver<Event>,
    /// The last id delivered (or skipped as "before since").
    cursor: u64,
    /// Read the table before taking broadcast events.
    from_table: bool,
    pending: VecDeque<FeedItem>,
    backoff: Backoff,
}

impl Subscriber {
    async fn next(&mut self) -> Option<FeedItem> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.from_table {
                self.read_table().await;
                continue;
            }
            match self.rx.recv().await {
                Ok(event) if event.id <= self.cursor => {}
                Ok(event) if event.id == self.cursor + 1 => {
                    self.cursor = event.id;
                    return Some(FeedItem::Event(event));
                }
                // The fan-out is ahead of us: the table has the rest.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.from_table = true,
                // The store was dropped.
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Reads one page after the cursor into `pending`; retries (with
    /// backoff) while the database is unreachable.
    async fn read_table(&mut self) {
        let after = i64::try_from(self.cursor).unwrap_or(i64::MAX);
        match read_page(&self.pool, after).await {
            Ok(page) => {
                self.backoff.reset();
                if page.len() < PAGE as usize {
                    self.from_table = false;
                }
                if let Some(first) = page.first() {
                    if first.id > self.cursor + 1 {
                        // Ids are dense: the missing ones were pruned.
                        self.pending.push_back(FeedItem::Resync);
                    }
                }
                for event in page {
                    self.cursor = event.id;
                    self.pending.push_back(FeedItem::Event(event));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "event log read failed; retrying");
                self.backoff.wait().await;
            }
        }
    }
}

/// The stream of events after `cursor`: the table first, then live.
pub(crate) fn stream(pool: PgPool, rx: broadcast::Receiver<Event>, cursor: u64) -> EventStream {
    let sub = Subscriber {
        pool,
        rx,
        cursor,
        from_table: true,
        pending: VecDeque::new(),
        backoff: Backoff::default(),
    };
    futures::stream::unfold(sub, |mut sub| async move {
        let item = sub.next().await?;
        Some((Ok(item), sub))
    })
    .boxed()
}

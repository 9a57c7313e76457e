//! Following the event log: one fan-out task per store, and the
//! per-subscriber streams [`SqliteStore::events`](crate::SqliteStore) returns.
//!
//! Only this process writes the file, so every commit is seen here: a write
//! that appended events wakes the fan-out after its commit. The table is the
//! truth; the wake-up only says "look again". The fan-out re-reads
//! `WHERE id > last delivered` on each wake-up (and every `poll_interval`,
//! as a safety net for a write whose caller went away between its commit
//! and the wake-up) and broadcasts what it reads. A subscriber first reads
//! the table after its cursor, then takes broadcast events whose id is
//! exactly `cursor + 1`; anything else (it fell behind, or the fan-out
//! skipped ahead) sends it back to the table. Ids are dense (see
//! `events::append`), so a gap in the table means "pruned by retention" and
//! yields `Resync`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use slipway_core::model::{Event, EventKind, FeedItem};
use slipway_core::store::EventStream;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;

use crate::store::SqliteOptions;

/// Rows read per query when catching up.
const PAGE: i64 = 500;

/// The fan-out task of one store.
pub(crate) struct Fanout {
    sender: broadcast::Sender<Event>,
    wake: Arc<Notify>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Fanout {
    /// Starts the task; `last` is the newest event id at start.
    pub(crate) fn start(pool: SqlitePool, last: i64, options: &SqliteOptions) -> Self {
        let (sender, _) = broadcast::channel(options.subscriber_buffer.max(1));
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run(
            pool,
            sender.clone(),
            wake.clone(),
            last,
            options.poll_interval,
        ));
        Self {
            sender,
            wake,
            task: Mutex::new(Some(task)),
        }
    }

    /// A receiver of every event the fan-out broadcasts from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Tells the task to read the log (a permit is kept when it is busy, so
    /// no wake-up is lost).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

impl Fanout {
    /// Stops the task and waits until it is gone (with any connection it
    /// was using).
    pub(crate) async fn stop(&self) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
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
    pool: SqlitePool,
    sender: broadcast::Sender<Event>,
    wake: Arc<Notify>,
    mut cursor: i64,
    poll_interval: Duration,
) {
    let mut backoff = Backoff::default();
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll_interval) => {}
        }
        loop {
            match catch_up(&pool, &mut cursor, &sender).await {
                Ok(()) => {
                    backoff.reset();
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event log read failed; retrying");
                    backoff.wait().await;
                }
            }
        }
    }
}

/// Broadcasts every committed event after `cursor`.
async fn catch_up(
    pool: &SqlitePool,
    cursor: &mut i64,
    sender: &broadcast::Sender<Event>,
) -> Result<(), sqlx::Error> {
    loop {
        let page = read_page(pool, *cursor).await?;
        let full = page.len() as i64 == PAGE;
        for event in page {
            *cursor = i64::try_from(event.id).unwrap_or(i64::MAX);
            // No receiver is not an error: nobody is listening right now.
            let _ = sender.send(event);
        }
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
    data: String,
}

/// Up to [`PAGE`] events after `after`, in id order.
async fn read_page(pool: &SqlitePool, after: i64) -> Result<Vec<Event>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT id, owner_id, project_id, kind, data FROM events \
         WHERE id > ?1 ORDER BY id LIMIT ?2",
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
            let data = serde_json::from_str(&r.data).map_err(|e| sqlx::Error::Decode(e.into()))?;
            Ok(Event {
                id: u64::try_from(r.id).unwrap_or(0),
                owner_id: r.owner_id,
                project_id: r.project_id,
                kind,
                data,
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
    pool: SqlitePool,
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
    /// backoff) while the database cannot be read.
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
pub(crate) fn stream(pool: SqlitePool, rx: broadcast::Receiver<Event>, cursor: u64) -> EventStream {
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

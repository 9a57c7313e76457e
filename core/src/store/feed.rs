//! The one event feed of every store: replay, live tail, no gap or
//! duplicate, and `Resync` when events were lost — written once, over the
//! small log interface each store offers ([`Store::read_events`],
//! [`Store::event_signals`], [`Store::last_event_id`]).
//!
//! A store holds one [`EventFeed`] and answers [`Store::events`] with
//! [`EventFeed::subscribe`]. The feed runs one **tail task** per store while
//! anyone subscribes: it reads the log after the last event it saw whenever
//! the store signals a write (NOTIFY, a stream read, an in-process wake-up)
//! and every [`FeedOptions::poll_interval`] as a safety net, and broadcasts
//! each event once. A subscriber first reads the log after its own cursor,
//! page by page, then takes broadcast events whose id is exactly
//! `cursor + 1`; anything else (it fell behind the broadcast buffer, or the
//! tail skipped ahead) sends it back to the log. Event ids are dense (each
//! store allocates them in the writing transaction), so:
//!
//! - a subscriber that is slow loses nothing while the log retains its
//!   events: it catches up from the log;
//! - a gap between the cursor and the first retained event means events were
//!   pruned: the subscriber gets [`FeedItem::Resync`] and continues with the
//!   oldest retained event;
//! - a cursor past the newest event (a restored backup, a backend that lost
//!   data, a cursor from another instance) gets [`FeedItem::Resync`] and
//!   continues after the newest event — at subscription, and for every
//!   subscriber when the tail finds the log behind it;
//! - when the backend is down the tail and the subscribers retry with
//!   backoff and continue after the last event they delivered.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::{EventStream, Store, StoreResult};
use crate::error::StoreError;
use crate::model::{Event, FeedItem};

/// Settings of an [`EventFeed`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FeedOptions {
    /// Events the broadcast holds for a subscriber that has not taken them
    /// yet; one further behind reads the log instead (default 1024).
    pub buffer: usize,
    /// How often the tail reads the log without a signal, and checks that
    /// the log has not gone back (default 1 s).
    pub poll_interval: Duration,
    /// Events read per query (default 256).
    pub page: usize,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions {
            buffer: 1024,
            poll_interval: Duration::from_secs(1),
            page: 256,
        }
    }
}

impl FeedOptions {
    /// Sets [`FeedOptions::buffer`].
    pub fn buffer(mut self, events: usize) -> Self {
        self.buffer = events.max(1);
        self
    }
    /// Sets [`FeedOptions::poll_interval`].
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every.max(Duration::from_millis(10));
        self
    }
}

/// What the tail broadcasts.
#[derive(Debug, Clone)]
enum Tail {
    /// The next event of the log.
    Event(Arc<Event>),
    /// The log went back (restore, data loss): continue after this id.
    Reset(u64),
}

/// The event feed of one store: replay after a cursor, then the live tail,
/// with `Resync` when events were lost.
pub struct EventFeed {
    inner: Arc<Inner>,
}

struct Inner {
    sender: broadcast::Sender<Tail>,
    options: FeedOptions,
    /// Turns true once the tail knows where the log ends.
    ready: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EventFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventFeed")
            .field("options", &self.inner.options)
            .field("subscribers", &self.inner.sender.receiver_count())
            .finish()
    }
}

impl Default for EventFeed {
    fn default() -> Self {
        EventFeed::new(FeedOptions::default())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}

impl EventFeed {
    /// A feed with these settings.
    pub fn new(options: FeedOptions) -> Self {
        let options = options.buffer(options.buffer);
        EventFeed {
            inner: Arc::new(Inner {
                sender: broadcast::channel(options.buffer).0,
                options,
                ready: watch::channel(false).0,
                task: Mutex::new(None),
            }),
        }
    }

    /// The events of `store`'s log after `since` (`None`: from now on), then
    /// live ones. `store` must be the store that holds this feed.
    pub async fn subscribe(
        &self,
        store: Arc<dyn Store>,
        since: Option<u64>,
    ) -> StoreResult<EventStream> {
        let newest = store.last_event_id().await?;
        let rx = self.inner.sender.subscribe();
        self.start_tail(&store);
        let mut ready = self.inner.ready.subscribe();
        ready
            .wait_for(|r| *r)
            .await
            .map_err(|_| StoreError::other("the event feed stopped"))?;
        let mut pending = VecDeque::new();
        let cursor = match since {
            None => newest,
            Some(since) if since > newest => {
                // A cursor from the future: nothing of it exists here.
                pending.push_back(FeedItem::Resync);
                newest
            }
            Some(since) => since,
        };
        let sub = Subscriber {
            store,
            rx,
            cursor,
            from_log: true,
            pending,
            page: self.inner.options.page,
            backoff: Backoff::default(),
        };
        Ok(futures::stream::unfold(sub, |mut sub| async move {
            let item = sub.next().await?;
            Some((Ok(item), sub))
        })
        .boxed())
    }

    /// Stops the tail task and waits until it is gone (with any connection
    /// it was using); a later subscription starts it again. Stores call it
    /// when they close.
    pub async fn stop(&self) {
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        end_task(task).await;
    }

    /// [`EventFeed::stop`], but only when no stream follows the feed: the
    /// tail then ends now instead of at its next wake-up, and lets go of the
    /// store before this returns. A stream still open keeps it running.
    /// Stores call it from [`Store::stop_idle_tasks`].
    pub async fn stop_if_idle(&self) {
        let task = {
            let mut task = self.inner.task.lock().unwrap_or_else(|p| p.into_inner());
            // Checked under the task's lock: a subscriber that comes after
            // the check starts a new tail once the lock is free.
            if self.inner.sender.receiver_count() > 0 {
                return;
            }
            task.take()
        };
        end_task(task).await;
    }

    /// Starts the tail task unless it runs.
    fn start_tail(&self, store: &Arc<dyn Store>) {
        let mut task = self.inner.task.lock().unwrap_or_else(|p| p.into_inner());
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        self.inner.ready.send_replace(false);
        *task = Some(tokio::spawn(tail(
            store.clone(),
            Arc::downgrade(&self.inner),
        )));
    }
}

/// Aborts a background task taken out of its owner (if any) and returns
/// once it has ended, so whatever it held (a store handle, the instance) is
/// let go. Shared by the feed's tail, the event hub and the WebSocket checks.
pub(crate) async fn end_task(task: Option<JoinHandle<()>>) {
    if let Some(task) = task {
        task.abort();
        let _ = task.await;
    }
}

/// The tail loop. It holds the store only while anyone subscribes, so a
/// store (which holds its feed) is freed once unused.
async fn tail(store: Arc<dyn Store>, feed: std::sync::Weak<Inner>) {
    let Some(options) = feed.upgrade().map(|f| f.options) else {
        return;
    };
    let mut cursor: Option<u64> = None;
    let mut backoff = Backoff::default();
    // A steady clock, not a sleep restarted by every signal: a busy log is
    // still checked for having gone back.
    let mut tick = tokio::time::interval(options.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut signals = match store.event_signals().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "event signals unavailable; retrying");
                backoff.wait().await;
                continue;
            }
        };
        // Signals may have been missed while (re)subscribing: read, and check
        // the log has not gone back.
        let mut check_newest = true;
        loop {
            let Some(feed) = feed.upgrade() else { return };
            if let Err(e) = catch_up(&*store, &feed, &mut cursor, check_newest, options).await {
                tracing::warn!(error = %e, "event log read failed; retrying");
                drop(feed);
                backoff.wait().await;
                continue;
            }
            backoff.reset();
            feed.ready.send_replace(true);
            if feed.sender.receiver_count() == 0 {
                // Nobody listens: stop, and let go of the store.
                return;
            }
            drop(feed);
            tokio::select! {
                signal = signals.next() => match signal {
                    Some(()) => check_newest = false,
                    // The source failed: subscribe again.
                    None => break,
                },
                _ = tick.tick() => check_newest = true,
            }
        }
        backoff.wait().await;
    }
}

/// Broadcasts every event after `cursor`; with `check_newest`, first checks
/// the log has not gone back behind the cursor.
async fn catch_up(
    store: &dyn Store,
    feed: &Inner,
    cursor: &mut Option<u64>,
    check_newest: bool,
    options: FeedOptions,
) -> StoreResult<()> {
    let mut from = match *cursor {
        Some(c) => c,
        None => {
            let newest = store.last_event_id().await?;
            *cursor = Some(newest);
            return Ok(());
        }
    };
    if check_newest {
        let newest = store.last_event_id().await?;
        if newest < from {
            tracing::warn!(
                newest,
                cursor = from,
                "the event log went back; subscribers resync"
            );
            from = newest;
            *cursor = Some(newest);
            let _ = feed.sender.send(Tail::Reset(newest));
        }
    }
    loop {
        let page = store.read_events(from, options.page).await?;
        let full = page.len() >= options.page;
        for event in page {
            from = event.id;
            // No receiver is not an error: nobody is listening right now.
            let _ = feed.sender.send(Tail::Event(Arc::new(event)));
        }
        *cursor = Some(from);
        if !full {
            return Ok(());
        }
    }
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
    store: Arc<dyn Store>,
    rx: broadcast::Receiver<Tail>,
    /// The last id delivered (or skipped as "before since").
    cursor: u64,
    /// Read the log before taking broadcast events.
    from_log: bool,
    pending: VecDeque<FeedItem>,
    page: usize,
    backoff: Backoff,
}

impl Subscriber {
    async fn next(&mut self) -> Option<FeedItem> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.from_log {
                self.read_log().await;
                continue;
            }
            match self.rx.recv().await {
                Ok(Tail::Event(event)) if event.id <= self.cursor => {}
                Ok(Tail::Event(event)) if event.id == self.cursor + 1 => {
                    self.cursor = event.id;
                    return Some(FeedItem::Event(Arc::unwrap_or_clone(event)));
                }
                Ok(Tail::Reset(newest)) => {
                    if newest < self.cursor {
                        self.cursor = newest;
                        return Some(FeedItem::Resync);
                    }
                }
                // The tail is ahead of us: the log has the rest.
                Ok(Tail::Event(_)) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.from_log = true
                }
                // The store was dropped.
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Reads one page after the cursor into `pending`; retries (with
    /// backoff) while the store is unreachable.
    async fn read_log(&mut self) {
        match self.store.read_events(self.cursor, self.page).await {
            Ok(page) => {
                self.backoff.reset();
                if page.len() < self.page {
                    self.from_log = false;
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

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::model::RoleGate;
    use crate::testing::cases::{audit, new_project, new_user, next_item};
    use crate::testing::CoreProjectWrites as _;
    use crate::MemoryStore;

    /// Writes a project (one event); its event id.
    async fn write(store: &Arc<dyn Store>) -> u64 {
        let user = store
            .create_user(new_user("ada"), RoleGate::FirstUserAdmin, &audit())
            .await
            .unwrap();
        store
            .core_create_project(new_project(&user.id), &audit())
            .await
            .unwrap();
        store.last_event_id().await.unwrap()
    }

    async fn next_event(stream: &mut EventStream) -> u64 {
        match next_item(stream).await {
            FeedItem::Event(e) => e.id,
            FeedItem::Resync => panic!("nothing was lost"),
        }
    }

    /// `stop_if_idle` leaves a followed feed running, and once the last
    /// stream is gone ends the tail before returning: nothing of the feed
    /// holds the store any more. A later subscription starts it again.
    #[tokio::test]
    async fn stop_if_idle_ends_the_tail_only_when_nothing_follows() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let feed = EventFeed::default();
        let mut stream = feed.subscribe(store.clone(), None).await.unwrap();
        let id = write(&store).await;
        assert_eq!(next_event(&mut stream).await, id);

        feed.stop_if_idle().await;
        let id = write(&store).await;
        assert_eq!(next_event(&mut stream).await, id, "still followed");

        drop(stream);
        assert!(Arc::strong_count(&store) > 1, "the tail holds the store");
        feed.stop_if_idle().await;
        assert_eq!(Arc::strong_count(&store), 1, "the tail let go");

        let mut again = feed.subscribe(store.clone(), None).await.unwrap();
        let id = write(&store).await;
        assert_eq!(next_event(&mut again).await, id, "started again");
    }
}

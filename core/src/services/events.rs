//! The event feed: `project.update` events as they are written, by this node
//! or any other sharing the store, for host code and the WebSocket feed.
//!
//! One **hub** per [`Slipway`](crate::Slipway) instance follows the store's
//! log once and hands each event to the subscribers of its owner only (and to
//! the system principal's), as one shared [`Delivered`] value: a WebSocket
//! frame is serialised once for every socket of the owner, and no subscriber
//! scans other users' events. A subscriber registers with the hub, learns
//! the hub's position and replays what it missed from the log, a page at a
//! time; one that does not take its events fast enough is dropped by the hub
//! and re-registers, catching up from the log again, so it loses nothing the
//! log still holds.

use crate::model::UserId;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::{Core, Error, Principal, Resource, Result};
use crate::model::{Event, FeedItem};
use crate::store::Store;

/// Events a subscriber may have waiting in the hub before it is dropped and
/// catches up from the log.
const SLOT_CAPACITY: usize = 1024;
/// Events read per query when a subscriber replays from the log.
const PAGE: usize = 256;

/// One event as the hub hands it to every subscriber it reaches.
#[derive(Debug)]
pub struct Delivered {
    /// The event.
    pub event: Event,
    frame: OnceLock<Arc<str>>,
}

impl Delivered {
    /// A cached rendering of the event, made by the first caller.
    pub(crate) fn frame(&self, render: impl FnOnce(&Event) -> String) -> Arc<str> {
        self.frame
            .get_or_init(|| Arc::from(render(&self.event)))
            .clone()
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// The next event for it.
    Event(Arc<Delivered>),
    /// Events were lost: refetch.
    Resync,
}

/// What the hub sends down one subscriber's channel.
#[derive(Debug, Clone)]
enum Sent {
    Event(Arc<Delivered>),
    /// The log lost events; continue after this id.
    Resync(u64),
}

struct Slot {
    id: u64,
    tx: mpsc::Sender<Sent>,
}

#[derive(Default)]
struct HubState {
    /// The id of the last event dispatched (set when the hub starts).
    position: Option<u64>,
    next_slot: u64,
    by_owner: HashMap<UserId, Vec<Slot>>,
    all: Vec<Slot>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The per-instance hub.
#[derive(Default)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
    /// Wakes registrations waiting for the hub to know its position.
    started: tokio::sync::Notify,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = state.task.take() {
            task.abort();
        }
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a subscriber of `owner` (`None`: every event), starting the
    /// hub when needed; the hub's position and the receiver of what comes
    /// after it.
    async fn register(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        owner: Option<&str>,
    ) -> Result<(u64, u64, mpsc::Receiver<Sent>)> {
        loop {
            let notified = self.started.notified();
            {
                let mut st = self.lock();
                if st.task.as_ref().is_none_or(|t| t.is_finished()) {
                    st.position = None;
                    st.task = Some(tokio::spawn(run(store.clone(), Arc::downgrade(self))));
                }
                if let Some(position) = st.position {
                    let (tx, rx) = mpsc::channel(SLOT_CAPACITY);
                    st.next_slot += 1;
                    let slot = Slot {
                        id: st.next_slot,
                        tx,
                    };
                    let id = slot.id;
                    match owner {
                        Some(o) => st.by_owner.entry(UserId::from(o)).or_default().push(slot),
                        None => st.all.push(slot),
                    }
                    return Ok((id, position, rx));
                }
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {
                    return Err(Error::Unavailable("the event hub did not start".into()));
                }
            }
        }
    }

    /// Stops the hub's task when no subscriber is left, and returns once it
    /// has ended (with its event stream and its handle of the store). A
    /// later registration starts it again; a subscriber still registered
    /// keeps it running.
    pub(crate) async fn stop_if_idle(&self) {
        let task = {
            let mut st = self.lock();
            if !st.by_owner.is_empty() || !st.all.is_empty() {
                return;
            }
            st.position = None;
            st.task.take()
        };
        crate::store::end_task(task).await;
    }

    /// Whether the hub's task runs.
    #[cfg(test)]
    pub(crate) fn is_running(&self) -> bool {
        self.lock().task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Removes a subscriber.
    fn unregister(&self, owner: Option<&str>, id: u64) {
        let mut st = self.lock();
        match owner {
            Some(o) => {
                if let Some(slots) = st.by_owner.get_mut(o) {
                    slots.retain(|s| s.id != id);
                    if slots.is_empty() {
                        st.by_owner.remove(o);
                    }
                }
            }
            None => st.all.retain(|s| s.id != id),
        }
    }

    /// Hands `event` to its owner's subscribers and the system ones.
    fn dispatch(&self, event: Event) {
        let mut st = self.lock();
        st.position = Some(event.id);
        let owner = event.owner_id.clone();
        let shared = Arc::new(Delivered {
            event,
            frame: OnceLock::new(),
        });
        let send = |slots: &mut Vec<Slot>| {
            // A subscriber that does not keep up is dropped: it catches up
            // from the log when it registers again.
            slots.retain(|s| s.tx.try_send(Sent::Event(shared.clone())).is_ok());
        };
        if let Some(slots) = st.by_owner.get_mut(&owner) {
            send(slots);
            if slots.is_empty() {
                st.by_owner.remove(&owner);
            }
        }
        send(&mut st.all);
    }

    /// Tells every subscriber that events were lost.
    fn resync(&self, position: u64) {
        let mut st = self.lock();
        st.position = Some(position);
        let st = &mut *st;
        for slots in st.by_owner.values_mut().chain(std::iter::once(&mut st.all)) {
            slots.retain(|s| s.tx.try_send(Sent::Resync(position)).is_ok());
        }
        st.by_owner.retain(|_, slots| !slots.is_empty());
    }
}

/// The hub's loop: follows the store's log from its newest event.
async fn run(store: Arc<dyn Store>, hub: Weak<Hub>) {
    let mut backoff = std::time::Duration::from_millis(100);
    let (start, mut events) = loop {
        let started = async {
            let start = store.last_event_id().await?;
            let events = store.events(Some(start)).await?;
            Ok::<_, crate::StoreError>((start, events))
        };
        match started.await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(error = %e, "event hub cannot follow the log yet; retrying");
                if hub.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(2));
            }
        }
    };
    {
        let Some(hub) = hub.upgrade() else { return };
        hub.lock().position = Some(start);
        hub.started.notify_waiters();
    }
    let mut position = start;
    while let Some(item) = events.next().await {
        let Some(hub) = hub.upgrade() else { return };
        match item {
            Ok(FeedItem::Event(e)) => {
                position = e.id;
                hub.dispatch(e);
            }
            Ok(FeedItem::Resync) => {
                // The log lost events or went back: start over from where it
                // ends now.
                position = store.last_event_id().await.unwrap_or(0);
                hub.resync(position);
            }
            Err(e) => tracing::warn!(error = %e, position, "event hub: store error"),
        }
    }
    // The log's stream ended (the store closed): let every subscriber know,
    // so they register again (and restart the hub) or end.
    if let Some(hub) = hub.upgrade() {
        let mut st = hub.lock();
        st.by_owner.clear();
        st.all.clear();
    }
}

/// A live subscription: the events after its start, then new ones, in id
/// order with no gap and no duplicate; [`FeedItem::Resync`] when events were
/// lost (the start is older than the retained log or past its end, or the
/// log went back). A user's subscription carries only the events of their
/// own projects; the system principal's carries all of them.
pub struct Subscription {
    inner: Pin<Box<dyn Stream<Item = Result<Item>> + Send>>,
    start: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The id the subscription starts after.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The next item, shared with the owner's other subscribers.
    pub(crate) async fn next_shared(&mut self) -> Option<Result<Item>> {
        self.inner.next().await
    }
}

impl Stream for Subscription {
    type Item = Result<FeedItem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx).map(|item| {
            item.map(|r| {
                r.map(|i| match i {
                    Item::Event(d) => FeedItem::Event(d.event.clone()),
                    Item::Resync => FeedItem::Resync,
                })
            })
        })
    }
}

/// One subscriber's state.
struct Follower {
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    owner: Option<String>,
    /// The last id delivered (or skipped).
    cursor: u64,
    slot: Option<(u64, mpsc::Receiver<Sent>)>,
    pending: VecDeque<Item>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some((id, _)) = self.slot.take() {
            self.hub.unregister(self.owner.as_deref(), id);
        }
    }
}

impl Follower {
    fn mine(&self, event: &Event) -> bool {
        self.owner.as_deref().is_none_or(|o| o == event.owner_id)
    }

    async fn next(&mut self) -> Option<Result<Item>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(Ok(item));
            }
            let Some((_, rx)) = self.slot.as_mut() else {
                if let Err(e) = self.attach().await {
                    return Some(Err(e));
                }
                continue;
            };
            match rx.recv().await {
                Some(Sent::Event(d)) if d.event.id <= self.cursor => {}
                Some(Sent::Event(d)) => {
                    self.cursor = d.event.id;
                    return Some(Ok(Item::Event(d)));
                }
                Some(Sent::Resync(position)) => {
                    self.cursor = position;
                    return Some(Ok(Item::Resync));
                }
                // Dropped by the hub (too slow) or the hub stopped: register
                // again and catch up from the log.
                None => self.slot = None,
            }
        }
    }

    /// Registers with the hub and replays from the log what lies between the
    /// cursor and the hub's position.
    async fn attach(&mut self) -> Result<()> {
        let (id, position, rx) = self
            .hub
            .register(&self.store, self.owner.as_deref())
            .await?;
        self.slot = Some((id, rx));
        while self.cursor < position {
            let page = self
                .store
                .read_events(self.cursor, PAGE)
                .await
                .map_err(|e| Error::store(Resource::Event, e))?;
            let Some(first) = page.first() else { break };
            if first.id > self.cursor + 1 {
                // Ids are dense: the missing ones were pruned.
                self.pending.push_back(Item::Resync);
            }
            let last = page.last().map_or(self.cursor, |e| e.id);
            for event in page {
                if event.id <= position && self.mine(&event) {
                    self.pending.push_back(Item::Event(Arc::new(Delivered {
                        event,
                        frame: OnceLock::new(),
                    })));
                }
            }
            self.cursor = last.min(position);
        }
        // Everything up to the hub's position is handled: live events follow.
        self.cursor = self.cursor.max(position);
        Ok(())
    }
}

/// The event operations; see [`Slipway::events`](crate::Slipway::events).
pub struct Events<'a> {
    pub(crate) core: &'a Core,
}

impl Events<'_> {
    /// Counts a new live-feed (WebSocket) connection of `user_id` against
    /// [`Config::ws_connects_per_minute`](crate::Config::ws_connects_per_minute)
    /// (shared by every node of a shared store); beyond it
    /// [`Error::TooManyAttempts`].
    pub(crate) async fn admit_connection(&self, user_id: &str) -> Result<()> {
        let limit = self.core.config.ws_connects_per_minute;
        let message = "Too many WebSocket connections opened by this user in the last minute; \
                       wait before reconnecting";
        self.core
            .count_action(super::limits::Limit {
                key: crate::auth::limiter::counter_key("ws-connect-user", &[user_id]),
                limit,
                window: std::time::Duration::from_secs(60),
                message,
            })
            .await
    }

    /// The id of the newest event of the instance (0 when none).
    pub async fn last_id(&self) -> Result<u64> {
        self.core
            .store
            .last_event_id()
            .await
            .map_err(|e| Error::store(Resource::Event, e))
    }

    /// Subscribes to the events after `since` (`None`: from now on) that the
    /// principal may see.
    pub async fn subscribe(&self, actor: &Principal, since: Option<u64>) -> Result<Subscription> {
        self.core
            .require_scope(actor, crate::model::Scope::EventsRead)?;
        let owner = match actor.is_system() {
            true => None,
            false => Some(self.core.owner_of(actor)?.to_string()),
        };
        let newest = self.last_id().await?;
        let mut pending = VecDeque::new();
        // The cursor actually used: a cursor past the newest event (a
        // restored backup, another instance) starts after the newest one,
        // with `Resync` first.
        let start = match since {
            Some(s) if s <= newest => s,
            Some(_) => {
                pending.push_back(Item::Resync);
                newest
            }
            None => newest,
        };
        let mut follower = Follower {
            hub: self.core.hub.clone(),
            store: self.core.store.clone(),
            owner,
            cursor: start,
            slot: None,
            pending,
        };
        // Registered (and replayed) before this returns: no event written
        // after it can be missed.
        follower.attach().await?;
        let inner = futures::stream::unfold(follower, |mut f| async move {
            let item = f.next().await?;
            Some((item, f))
        });
        // An API token restricted to some projects sees only their events.
        let inner = match actor.grant().and_then(|g| g.project_ids.clone()) {
            None => inner.boxed(),
            Some(projects) => inner
                .filter(move |item| {
                    let keep = match item {
                        Ok(Item::Event(d)) => projects.contains(&d.event.project_id),
                        _ => true,
                    };
                    std::future::ready(keep)
                })
                .boxed(),
        };
        Ok(Subscription { inner, start })
    }
}

#[cfg(all(test, feature = "memory"))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::services::{NewProject, ProjectChanges, Signup};
    use crate::{MemoryStore, Slipway};

    fn slipway() -> Slipway {
        Slipway::builder()
            .secret(vec![7u8; 32])
            .store(MemoryStore::new())
            .argon2(crate::Argon2Params {
                memory_kib: 8,
                iterations: 1,
                parallelism: 1,
            })
            .build()
            .unwrap()
    }

    async fn user(s: &Slipway, name: &str) -> Principal {
        let u = s
            .accounts()
            .signup(Signup::new(
                name,
                format!("{name}@example.com"),
                "password1",
            ))
            .await
            .unwrap()
            .user;
        Principal::user(u)
    }

    async fn next(sub: &mut Subscription) -> Item {
        tokio::time::timeout(Duration::from_secs(5), sub.next_shared())
            .await
            .expect("an item within 5 s")
            .expect("the subscription goes on")
            .expect("no error")
    }

    /// The sockets of one user share each event, rendered once; another
    /// user's subscription never receives it.
    #[tokio::test]
    async fn one_shared_delivery_per_event_for_its_owner_only() {
        let s = slipway();
        let ada = user(&s, "ada").await;
        let bob = user(&s, "bob").await;
        let mut a1 = s.events().subscribe(&ada, None).await.unwrap();
        let mut a2 = s.events().subscribe(&ada, None).await.unwrap();
        let mut b = s.events().subscribe(&bob, None).await.unwrap();
        let p = s
            .projects()
            .create(&ada, NewProject::new("A", "src-a", "vm-a"))
            .await
            .unwrap();
        let (Item::Event(d1), Item::Event(d2)) = (next(&mut a1).await, next(&mut a2).await) else {
            panic!("events expected");
        };
        assert!(Arc::ptr_eq(&d1, &d2), "one delivery shared by both");
        assert_eq!(d1.event.project_id, p.id);
        let mut renders = 0;
        let f1 = d1.frame(|_| {
            renders += 1;
            "frame".into()
        });
        let f2 = d2.frame(|_| {
            renders += 1;
            "other".into()
        });
        assert_eq!((renders, &*f1, &*f2), (1, "frame", "frame"));
        let nothing = tokio::time::timeout(Duration::from_millis(200), b.next_shared()).await;
        assert!(nothing.is_err(), "bob gets nothing: {nothing:?}");
    }

    /// A subscriber that lets more than the hub's buffer pile up is dropped
    /// by the hub and catches up from the log: every event, in order, once.
    #[tokio::test]
    async fn a_subscriber_dropped_by_the_hub_catches_up_from_the_log() {
        let s = slipway();
        let ada = user(&s, "ada").await;
        let mut slow = s.events().subscribe(&ada, None).await.unwrap();
        let start = s.events().last_id().await.unwrap();
        let p = s
            .projects()
            .create(&ada, NewProject::new("A", "src-a", "vm-a"))
            .await
            .unwrap();
        let writes = SLOT_CAPACITY as u64 + 100;
        for i in 1..writes {
            let changes = ProjectChanges {
                name: Some(format!("n{i}")),
                ..Default::default()
            };
            s.projects().update(&ada, &p.id, changes).await.unwrap();
        }
        for expected in start + 1..=start + writes {
            match next(&mut slow).await {
                Item::Event(d) => assert_eq!(d.event.id, expected),
                Item::Resync => panic!("nothing was lost"),
            }
        }
        let extra = tokio::time::timeout(Duration::from_millis(200), slow.next_shared()).await;
        assert!(extra.is_err(), "no duplicate: {extra:?}");
    }
}

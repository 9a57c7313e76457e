//! Publication of appended events to live subscribers, in id order, with no
//! store lock held and no writer waiting for another.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, TryLockError};

use futures::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use crate::error::StoreError;
use crate::model::{Event, FeedItem};

pub(super) fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The live side of the event log: a broadcast channel fed in id order.
pub(super) struct Fanout {
    live: broadcast::Sender<Event>,
    /// Events appended but not yet published, by id.
    pending: Mutex<Pending>,
    /// Held by the one writer currently publishing (taken with `try_lock`).
    publisher: Mutex<()>,
}

struct Pending {
    /// The id to publish next.
    next: u64,
    events: BTreeMap<u64, Event>,
}

impl Pending {
    /// Takes the events that can be published now (consecutive from `next`).
    fn take_ready(&mut self) -> Vec<Event> {
        let mut ready = Vec::new();
        while let Some(ev) = self.events.remove(&self.next) {
            self.next += 1;
            ready.push(ev);
        }
        ready
    }
}

impl Fanout {
    /// A fan-out where a subscriber may fall `capacity` events behind.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            live: broadcast::channel(capacity.max(1)).0,
            pending: Mutex::new(Pending {
                next: 1,
                events: BTreeMap::new(),
            }),
            publisher: Mutex::new(()),
        }
    }

    /// A receiver of every event published from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    /// Hands appended events (ids consecutive from 1 over all calls) over
    /// for publication and publishes, in id order, whatever is ready —
    /// unless another writer is publishing, who then publishes these too.
    /// Call it with no store lock held.
    pub(super) fn publish(&self, events: Vec<Event>) {
        if !events.is_empty() {
            let mut pending = lock_ignoring_poison(&self.pending);
            pending.events.extend(events.into_iter().map(|e| (e.id, e)));
        }
        loop {
            let publishing = match self.publisher.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                // The current publisher re-checks `pending` after it is done.
                Err(TryLockError::WouldBlock) => return,
            };
            loop {
                let ready = lock_ignoring_poison(&self.pending).take_ready();
                if ready.is_empty() {
                    break;
                }
                for event in ready {
                    // No receiver is not an error: nobody is listening.
                    let _ = self.live.send(event);
                }
            }
            drop(publishing);
            let pending = lock_ignoring_poison(&self.pending);
            if !pending.events.contains_key(&pending.next) {
                return;
            }
        }
    }
}

/// The live part of a subscription made when the log's next id was `next`:
/// older events still being published are skipped; a subscriber that fell
/// too far behind gets [`FeedItem::Resync`].
pub(super) fn live(
    rx: broadcast::Receiver<Event>,
    next: u64,
) -> impl Stream<Item = Result<FeedItem, StoreError>> {
    BroadcastStream::new(rx).filter_map(move |item| {
        futures::future::ready(match item {
            Ok(ev) if ev.id < next => None,
            Ok(ev) => Some(Ok(FeedItem::Event(ev))),
            Err(BroadcastStreamRecvError::Lagged(_)) => Some(Ok(FeedItem::Resync)),
        })
    })
}

//! The event feed: `project.update` events as they are written, by this node
//! or any other sharing the store, for host code and the WebSocket feed.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};

use super::{Core, Error, Principal, Resource, Result};
use crate::model::FeedItem;
use crate::store::EventStream;

/// A live subscription: the events after its start, then new ones, in id
/// order with no gap and no duplicate; [`FeedItem::Resync`] when events were
/// lost (the start is older than the retained log, or the subscriber fell
/// behind). A user's subscription carries only the events of their own
/// projects; the system principal's carries all of them.
pub struct Subscription {
    owner: Option<String>,
    start: u64,
    inner: EventStream,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("owner", &self.owner)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The id the subscription starts after.
    pub fn start(&self) -> u64 {
        self.start
    }
}

impl Stream for Subscription {
    type Item = Result<FeedItem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match self.inner.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(FeedItem::Event(e))))
                    if self.owner.as_deref().is_some_and(|o| o != e.owner_id) =>
                {
                    continue
                }
                Poll::Ready(Some(item)) => {
                    return Poll::Ready(Some(item.map_err(|e| Error::store(Resource::Event, e))))
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The event operations; see [`Slipway::events`](crate::Slipway::events).
pub struct Events<'a> {
    pub(crate) core: &'a Core,
}

impl Events<'_> {
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
        let owner = match actor.is_system() {
            true => None,
            false => Some(self.core.owner_of(actor)?.to_string()),
        };
        let newest = self.last_id().await?;
        // The cursor actually used: a cursor past the newest event (a
        // restored backup, another instance) starts after the newest one,
        // and the feed says `Resync` first.
        let start = match since {
            Some(s) if s <= newest => s,
            _ => newest,
        };
        // Subscribing after `start`, rather than "from now on", closes the
        // window between reading the last id and subscribing.
        let inner = self
            .core
            .store
            .events(Some(since.unwrap_or(start)))
            .await
            .map_err(|e| Error::store(Resource::Event, e))?;
        Ok(Subscription {
            owner,
            start,
            inner,
        })
    }

    /// The raw subscription of the WebSocket feed, which filters by owner
    /// itself while it serializes.
    pub(crate) async fn subscribe_all(&self, since: Option<u64>) -> Result<(u64, EventStream)> {
        let sub = self.subscribe(&Principal::system(), since).await?;
        Ok((sub.start, sub.inner))
    }
}

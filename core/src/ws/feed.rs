//! The per-connection feed: a task that drains the store's event stream into
//! a small bounded queue, independently of how fast the socket sends.
//!
//! The queue is a `VecDeque` behind a mutex that is held only to push or pop
//! one item (never across an `.await`), plus a [`Notify`] to wake the sender.
//! When the client is too slow and the queue is full, everything waiting is
//! dropped and replaced by one `resync`: the store stream never waits for a
//! socket, so a slow client cannot slow the store or other clients.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::frames;
use crate::services::{Item, Subscription};

/// What the sender takes from the queue.
#[derive(Debug, PartialEq)]
pub(super) enum Out {
    /// A frame to send as text (shared by the sockets of one user).
    Frame(Arc<str>),
    /// Events were lost: send `resync`.
    Resync,
    /// The event stream failed or ended: close the socket.
    End,
}

/// A bounded queue of frames for one connection.
pub(super) struct Queue {
    items: Mutex<VecDeque<Out>>,
    capacity: usize,
    notify: Notify,
}

impl Queue {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Out>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an item; on overflow, replaces everything waiting with one
    /// `Resync`. `End` is always kept.
    pub(super) fn push(&self, out: Out) {
        {
            let mut items = self.lock();
            match out {
                Out::End => items.push_back(Out::End),
                Out::Resync if items.back() == Some(&Out::Resync) => {}
                out if items.len() >= self.capacity => {
                    tracing::debug!(dropped = items.len(), "websocket client too slow: resync");
                    drop(out);
                    items.clear();
                    items.push_back(Out::Resync);
                }
                out => items.push_back(out),
            }
        }
        self.notify.notify_one();
    }

    /// Takes the oldest item.
    pub(super) fn pop(&self) -> Option<Out> {
        self.lock().pop_front()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Resolves after a push (or at once if one happened since the last wait).
    pub(super) async fn pushed(&self) {
        self.notify.notified().await
    }
}

/// Drains the user's subscription into `queue` (the hub routes only the
/// user's own events to it, each frame serialised once for all of the user's
/// sockets). Runs until the subscription ends or fails (then queues `End`).
pub(super) async fn pump(mut events: Subscription, queue: Arc<Queue>) {
    while let Some(item) = events.next_shared().await {
        match item {
            Ok(Item::Event(delivered)) => {
                queue.push(Out::Frame(delivered.frame(frames::project_update)));
            }
            Ok(Item::Resync) => queue.push(Out::Resync),
            Err(e) => {
                tracing::warn!(error = %e, "event stream failed; closing websocket");
                break;
            }
        }
    }
    queue.push(Out::End);
}

/// Aborts the task when dropped, so the feed stops with its connection.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

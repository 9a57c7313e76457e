//! The per-connection queue of frames waiting for the socket.
//!
//! The session fills it from the user's subscription whenever the socket is
//! not ready for more, so the subscription is drained however slowly the
//! client reads. When the client is too slow and the queue is full,
//! everything waiting is dropped and replaced by one `resync`: the event
//! feed never waits for a socket, so a slow client cannot slow the store or
//! other clients.

use std::collections::VecDeque;
use std::sync::Arc;

use super::frames;
use crate::services::Item;

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

impl Out {
    /// What one item of the subscription puts in the queue.
    pub(super) fn of(item: Item) -> Self {
        match item {
            Item::Event(delivered) => Out::Frame(delivered.frame(frames::project_update)),
            Item::Resync => Out::Resync,
        }
    }
}

/// A bounded queue of frames for one connection.
pub(super) struct Queue {
    items: VecDeque<Out>,
    capacity: usize,
}

impl Queue {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queues an item; on overflow, replaces everything waiting with one
    /// `Resync`. `End` is always kept.
    pub(super) fn push(&mut self, out: Out) {
        let items = &mut self.items;
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

    /// Takes the oldest item.
    pub(super) fn pop(&mut self) -> Option<Out> {
        self.items.pop_front()
    }

    /// The oldest item, left in place.
    pub(super) fn front(&self) -> Option<&Out> {
        self.items.front()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(s: &str) -> Out {
        Out::Frame(Arc::from(s))
    }

    #[test]
    fn overflow_replaces_what_waits_with_one_resync_and_end_is_kept() {
        let mut q = Queue::new(2);
        q.push(frame("a"));
        q.push(frame("b"));
        q.push(frame("c"));
        assert_eq!(q.pop(), Some(Out::Resync));
        assert!(q.is_empty());

        q.push(Out::Resync);
        q.push(Out::Resync);
        q.push(frame("d"));
        assert_eq!(q.front(), Some(&Out::Resync));
        assert_eq!(q.pop(), Some(Out::Resync));
        assert_eq!(q.pop(), Some(frame("d")));

        q.push(frame("e"));
        q.push(frame("f"));
        q.push(Out::End);
        assert_eq!(q.pop(), Some(frame("e")));
        assert_eq!(q.pop(), Some(frame("f")));
        assert_eq!(q.pop(), Some(Out::End));
        assert_eq!(q.pop(), None);
    }
}

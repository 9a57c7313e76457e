//! Whether an access token still counts: its user exists, is not disabled,
//! and has not raised their session epoch since the token was issued.
//!
//! Verifying a token is a signature check; this adds the user's state, read
//! from the store at most once per [`Config::session_check_interval`](crate::Config::session_check_interval)
//! per user and node. A change made on this node (password, role, disable,
//! sign-out everywhere, deletion) updates the node's copy at once and wakes
//! its WebSockets; other nodes see it within the interval.

use crate::model::UserId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Error, Resource, Result};
use crate::model::User;
use crate::store::Store;
use crate::StoreError;

/// Entries kept before stale ones are dropped.
const MAX_ENTRIES: usize = 65_536;

#[derive(Clone, Copy)]
struct Entry {
    /// `None`: the user does not exist.
    state: Option<State>,
    read_at: Instant,
}

#[derive(Clone, Copy)]
struct State {
    epoch: u32,
    disabled: bool,
}

/// The node's view of users' session state.
pub(crate) struct Sessions {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    /// Bumped whenever a user's sessions end on this node; the node's
    /// WebSocket checks run at once when it moves.
    revoked: watch::Sender<u64>,
}

impl Sessions {
    pub(crate) fn new(ttl: Duration) -> Self {
        Sessions {
            ttl,
            entries: Mutex::new(HashMap::new()),
            revoked: watch::channel(0).0,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a token of `user_id` issued under `epoch` still counts.
    pub(crate) async fn check(&self, store: &dyn Store, user_id: &str, epoch: u32) -> Result<()> {
        let now = Instant::now();
        let cached = self
            .entries()
            .get(user_id)
            .filter(|e| now.duration_since(e.read_at) < self.ttl)
            .copied();
        let entry = match cached {
            Some(entry) => entry,
            None => {
                let state = match store.get_user(&UserId::from(user_id)).await {
                    Ok(user) => Some(State {
                        epoch: user.session_epoch,
                        disabled: user.disabled,
                    }),
                    Err(StoreError::NotFound) => None,
                    Err(e) => return Err(Error::store(Resource::User, e)),
                };
                let entry = Entry {
                    state,
                    read_at: now,
                };
                self.put(user_id, entry);
                entry
            }
        };
        match entry.state {
            None => Err(Error::Unauthenticated(
                "The account this access token belongs to no longer exists".into(),
            )),
            Some(s) if s.disabled => Err(Error::Unauthenticated(
                "This account is disabled; ask an administrator of this instance".into(),
            )),
            Some(s) if epoch < s.epoch => Err(Error::Unauthenticated(
                "The access token was revoked (password or role change, or sign-out \
                 everywhere); sign in again"
                    .into(),
            )),
            Some(_) => Ok(()),
        }
    }

    fn put(&self, user_id: &str, entry: Entry) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, e| e.read_at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(user_id.to_string(), entry);
    }

    /// Records a change made on this node: `user` as it now is (`None`:
    /// deleted), and wakes the node's WebSockets.
    pub(crate) fn changed(&self, user_id: &str, user: Option<&User>) {
        self.put(
            user_id,
            Entry {
                state: user.map(|u| State {
                    epoch: u.session_epoch,
                    disabled: u.disabled,
                }),
                read_at: Instant::now(),
            },
        );
        self.revoked.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Records a change made on this node that ends no session (a new name
    /// or email; re-enabling).
    pub(crate) fn changed_quietly(&self, user_id: &str, user: &User) {
        self.put(
            user_id,
            Entry {
                state: Some(State {
                    epoch: user.session_epoch,
                    disabled: user.disabled,
                }),
                read_at: Instant::now(),
            },
        );
    }

    /// Wakes the node's WebSockets after an API token was revoked here, so
    /// sockets opened with it check it again at once.
    pub(crate) fn token_revoked(&self) {
        self.revoked.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever sessions ended on this node.
    pub(crate) fn revocations(&self) -> watch::Receiver<u64> {
        self.revoked.subscribe()
    }

    /// How often the node rechecks its WebSockets' access.
    pub(crate) fn interval(&self) -> Duration {
        self.ttl
    }
}

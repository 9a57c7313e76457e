//! The node's rechecks of its WebSockets' access.
//!
//! A socket's access ends when its user is deleted or disabled, raises their
//! session epoch past the token's (password or role change, sign-out
//! everywhere), or revokes the API token the socket was opened with. One task
//! per node checks every distinct access that open sockets hold (user, epoch,
//! API token) each [`Config::session_check_interval`](crate::Config::session_check_interval),
//! and at once when sessions end on this node, and wakes only the sockets
//! whose access ended. A socket costs no timer and no wake-up of its own: with
//! 10,000 sockets of one user, the node makes one check per interval instead
//! of 10,000.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::model::UserId;
use crate::{Shared, Slipway};

/// Accesses checked at the same time in one round.
const CONCURRENT_CHECKS: usize = 16;

/// What a socket's access rests on; sockets with the same key share a check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) user_id: UserId,
    /// The token's session epoch (`u32::MAX` for a principal the host built:
    /// only the user's existence and disabled flag count then).
    pub(crate) epoch: u32,
    /// The hash of the API token the socket was opened with.
    pub(crate) api_token: Option<String>,
}

struct Entry {
    /// Open sockets holding this key.
    sockets: usize,
    /// Turns `true` once the access ended.
    revoked: watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    keys: HashMap<Key, Entry>,
    task: Option<JoinHandle<()>>,
    /// Checks made (one per key and round), for tests.
    #[cfg(test)]
    checks: usize,
}

/// The node's registrations; see the [module documentation](self).
#[derive(Default)]
pub(crate) struct Checks {
    state: Mutex<State>,
}

impl Drop for Checks {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = state.task.take() {
            task.abort();
        }
    }
}

/// A socket's registration: [`Watched::revoked`] resolves when its access
/// ended. Dropping it unregisters the socket.
pub(crate) struct Watched {
    checks: Arc<Checks>,
    key: Key,
    revoked: watch::Receiver<bool>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        let mut st = self.checks.lock();
        if let Some(entry) = st.keys.get_mut(&self.key) {
            entry.sockets -= 1;
            if entry.sockets == 0 {
                st.keys.remove(&self.key);
            }
        }
    }
}

impl Watched {
    /// Resolves once the socket's access ended (never, if the node's checks
    /// are gone).
    pub(crate) fn revoked(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut revoked = self.revoked.clone();
        async move {
            if revoked.wait_for(|r| *r).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Checks {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a socket of `shared`'s node holding `key`, starting the
    /// node's task when none runs.
    pub(crate) fn watch(shared: &Arc<Shared>, key: Key) -> Watched {
        let checks = &shared.ws_checks;
        let mut st = checks.lock();
        if st.task.as_ref().is_none_or(|t| t.is_finished()) {
            let every = shared.core.sessions.interval();
            let revocations = shared.core.sessions.revocations();
            st.task = Some(tokio::spawn(run(
                Arc::downgrade(shared),
                every,
                revocations,
            )));
        }
        let entry = st.keys.entry(key.clone()).or_insert_with(|| Entry {
            sockets: 0,
            revoked: watch::channel(false).0,
        });
        entry.sockets += 1;
        let revoked = entry.revoked.subscribe();
        Watched {
            checks: checks.clone(),
            key,
            revoked,
        }
    }

    /// The keys to check in this round, with their senders; `None` when no
    /// socket is registered: the task then ends (a later registration starts
    /// a new one).
    fn due(&self) -> Option<Vec<(Key, watch::Sender<bool>)>> {
        let mut st = self.lock();
        if st.keys.is_empty() {
            st.task = None;
            return None;
        }
        let due: Vec<_> = st
            .keys
            .iter()
            .filter(|(_, e)| !*e.revoked.borrow())
            .map(|(k, e)| (k.clone(), e.revoked.clone()))
            .collect();
        #[cfg(test)]
        {
            st.checks += due.len();
        }
        Some(due)
    }

    /// Stops the node's task when no socket is registered, and returns once
    /// it has ended (with its handle of the instance).
    pub(crate) async fn stop_if_idle(&self) {
        let task = {
            let mut st = self.lock();
            if !st.keys.is_empty() {
                return;
            }
            st.task.take()
        };
        crate::store::end_task(task).await;
    }

    /// Whether the node's task runs.
    #[cfg(test)]
    pub(crate) fn is_running(&self) -> bool {
        self.lock().task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Checks made so far (one per key and round).
    #[cfg(test)]
    pub(crate) fn checks_made(&self) -> usize {
        self.lock().checks
    }
}

/// The node's task: a round of checks every `every`, and one at once when
/// sessions end on this node, until no socket is registered.
async fn run(weak: Weak<Shared>, every: Duration, mut revocations: watch::Receiver<u64>) {
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut signalled = true;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            changed = revocations.changed(), if signalled => {
                // The instance is being dropped: the timer alone is left.
                signalled = changed.is_ok();
                if !signalled {
                    continue;
                }
            }
        }
        let Some(shared) = weak.upgrade() else { return };
        let Some(due) = shared.ws_checks.due() else {
            return;
        };
        let slipway = Slipway { inner: shared };
        futures::stream::iter(due)
            .for_each_concurrent(CONCURRENT_CHECKS, |(key, revoked)| {
                let slipway = &slipway;
                async move {
                    if ended(slipway, &key).await {
                        revoked.send_replace(true);
                    }
                }
            })
            .await;
    }
}

/// Whether the access `key` stands for has ended. A store that cannot
/// answer now ends nothing.
async fn ended(slipway: &Slipway, key: &Key) -> bool {
    if let Err(crate::services::Error::Unauthenticated(_)) = slipway
        .accounts()
        .check_session(&key.user_id, key.epoch)
        .await
    {
        return true;
    }
    if let Some(hash) = &key.api_token {
        if let Ok(false) = slipway.tokens().still_valid(hash).await {
            return true;
        }
    }
    false
}

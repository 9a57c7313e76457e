//! Open WebSocket connections: per-user counts and the shutdown signal.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// Counts open connections per user and tells sessions to go away.
pub(crate) struct Registry {
    per_user: Mutex<HashMap<String, usize>>,
    open: watch::Sender<usize>,
    shutdown: watch::Sender<bool>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            per_user: Mutex::new(HashMap::new()),
            open: watch::channel(0).0,
            shutdown: watch::channel(false).0,
        }
    }
}

impl Registry {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.per_user.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a connection slot for `user`; `false` when they have `max` open.
    pub(crate) fn acquire(&self, user: &str, max: usize) -> bool {
        let mut users = self.users();
        let n = users.entry(user.to_string()).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        self.open.send_modify(|o| *o += 1);
        crate::metrics::websocket_opened();
        true
    }

    /// Gives a slot back.
    pub(crate) fn release(&self, user: &str) {
        let mut users = self.users();
        if let Some(n) = users.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                users.remove(user);
            }
        }
        self.open.send_modify(|o| *o = o.saturating_sub(1));
        crate::metrics::websocket_closed();
    }

    /// How many connections are open.
    pub(crate) fn open(&self) -> usize {
        *self.open.borrow()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// A receiver that turns `true` when sessions must close.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Tells every session to close (now); the future resolves when none
    /// is open (it does not borrow the registry).
    pub(crate) fn shut_down(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.shutdown.send_replace(true);
        let mut open = self.open.subscribe();
        async move {
            let _ = open.wait_for(|n| *n == 0).await;
        }
    }
}

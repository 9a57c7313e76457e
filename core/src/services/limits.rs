//! Rate limits on top of the store's counters
//! ([`Store::hit_counter`](crate::store::Store::hit_counter)).
//!
//! An attempt is counted **before** the work it limits starts, so concurrent
//! requests never get more than the limit through, and every node sharing
//! the store shares the count. While a counter is at its limit only because
//! counted attempts are still running, a new attempt waits for their outcome
//! (a successful sign-in gives its place back) instead of being refused:
//! concurrent correct sign-ins all pass, concurrent wrong ones get at most
//! the limit checked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Core, Error, Resource, Result};
use crate::store::{CounterHit, Store};

/// How long an attempt waits for running attempts of a full counter to end
/// before it is refused.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting attempt asks again.
const POLL: Duration = Duration::from_millis(20);

/// One counter an attempt is checked against.
pub(crate) struct Limit {
    /// The counter key ([`counter_key`](crate::auth::limiter::counter_key)).
    pub(crate) key: String,
    /// Attempts allowed per window.
    pub(crate) limit: u32,
    /// The window.
    pub(crate) window: Duration,
    /// The 429's message.
    pub(crate) message: &'static str,
}

/// The `limit` label of `slipway_rate_limited_total` for a counter key.
fn metric_label(key: &str) -> &'static str {
    match key.split(':').next().unwrap_or("") {
        "signin-addr" => "signin_addr",
        "signin-email-addr" => "signin_email_addr",
        "signin-email" => "signin_email",
        "signup-addr" => "signup_addr",
        "github-signin-addr" => "github_signin_addr",
        "ws-connect-user" => "ws_connects",
        _ => "other",
    }
}

/// Counted attempts that must be settled. Dropped unsettled (the request
/// was abandoned mid-way), they stay counted: a task settles them with
/// `keep`, so the running count goes down and the attempt counts as a
/// failure.
pub(crate) struct Attempt {
    store: Arc<dyn Store>,
    keys: Vec<String>,
}

impl Attempt {
    /// Ends the attempt: `keep` leaves it counted (a failure), otherwise it
    /// is given back (a success, or work that never ran).
    pub(crate) async fn settle(mut self, keep: bool) {
        let keys = std::mem::take(&mut self.keys);
        settle(&*self.store, &keys, keep).await;
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.keys);
        let store = self.store.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { settle(&*store, &keys, true).await });
        }
    }
}

async fn settle(store: &dyn Store, keys: &[String], keep: bool) {
    for key in keys {
        if let Err(e) = store.settle_counter(key, keep).await {
            tracing::warn!(error = %e, "a rate-limit counter could not be settled");
        }
    }
}

impl Core {
    /// Counts an attempt against every limit in turn. When one is at its
    /// limit (after waiting up to 10 s for running attempts to end), the
    /// counts already taken are given back and the answer is
    /// [`Error::TooManyAttempts`] with that limit's message and wait.
    pub(crate) async fn begin_attempt(&self, limits: &[Limit]) -> Result<Attempt> {
        let mut attempt = Attempt {
            store: self.store.clone(),
            keys: Vec::with_capacity(limits.len()),
        };
        for l in limits {
            let deadline = Instant::now() + MAX_WAIT;
            let refused = loop {
                match self.store.hit_counter(&l.key, l.window, l.limit).await {
                    Ok(CounterHit::Counted) => break None,
                    Ok(CounterHit::Pending) if Instant::now() < deadline => {
                        tokio::time::sleep(POLL).await;
                    }
                    Ok(CounterHit::Pending) => {
                        break Some(Error::TooManyAttempts {
                            message: l.message.into(),
                            retry_after: Duration::from_secs(1),
                        })
                    }
                    Ok(CounterHit::Limited(wait)) => {
                        break Some(Error::TooManyAttempts {
                            message: l.message.into(),
                            retry_after: wait.max(Duration::from_secs(1)),
                        })
                    }
                    Err(e) => break Some(Error::store(Resource::Setting, e)),
                }
            };
            if let Some(e) = refused {
                if matches!(e, Error::TooManyAttempts { .. }) {
                    crate::metrics::rate_limited(metric_label(&l.key));
                }
                attempt.settle(false).await;
                return Err(e);
            }
            attempt.keys.push(l.key.clone());
        }
        Ok(attempt)
    }

    /// Counts a one-shot action (a sign-up, a GitHub sign-in, a WebSocket
    /// connect) against `limit`: it stays counted for the whole window.
    pub(crate) async fn count_action(&self, limit: Limit) -> Result<()> {
        self.begin_attempt(&[limit]).await?.settle(true).await;
        Ok(())
    }
}

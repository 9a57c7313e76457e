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
//!
//! A waiting attempt does not poll the store on a fixed beat: it sleeps
//! until an attempt of the same counter on this node settles (a wake-up
//! through [`Waiters`]), or until a back-off timer fires for attempts
//! settled on other nodes. A burst of concurrent sign-ins for one account
//! therefore costs the store about one counter write per finished attempt,
//! not one per waiting attempt every few milliseconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Core, Error, Resource, Result};
use crate::error::StoreError;
use crate::model::{AuditEntry, AuditOutcome};
use crate::store::{CounterHit, CounterLimit, Store};

/// How long an attempt waits for running attempts of a full counter to end
/// before it is refused.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// The first wait of an attempt at a full counter before it asks the store
/// again when no attempt of this node settles meanwhile; each further wait
/// doubles, up to [`MAX_POLL`].
const POLL: Duration = Duration::from_millis(20);
/// The longest wait between two asks (an attempt settled on another node
/// is noticed within it).
const MAX_POLL: Duration = Duration::from_millis(320);

/// Wake-ups for attempts of this node waiting on a full counter, one
/// [`Notify`] per counter key that has a waiter (an entry is removed when
/// its last waiter leaves, so the map holds at most one entry per waiting
/// request).
#[derive(Default)]
pub(crate) struct Waiters {
    keys: Mutex<HashMap<String, Arc<Notify>>>,
    /// Store asks made by waiting attempts (what the wake-ups save).
    #[cfg(test)]
    asks: std::sync::atomic::AtomicUsize,
}

impl Waiters {
    /// A place in the line of `key`'s waiters.
    fn join(self: &Arc<Self>, key: &str) -> WaitSlot {
        let notify = self
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        WaitSlot {
            waiters: self.clone(),
            key: key.to_owned(),
            notify,
        }
    }

    /// An attempt of `key` settled: the longest-waiting attempt of this
    /// node asks the store again now.
    fn wake(&self, key: &str) {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = keys.get(key) {
            notify.notify_one();
        }
    }

    /// Counts a waiting attempt's store ask.
    #[cfg(test)]
    fn counted_ask(&self) {
        self.asks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A waiter's registration; dropping the last one of a key removes the key.
struct WaitSlot {
    waiters: Arc<Waiters>,
    key: String,
    notify: Arc<Notify>,
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        let mut keys = self.waiters.keys.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference and this one: no other waiter of the key.
        if Arc::strong_count(&self.notify) == 2 {
            keys.remove(&self.key);
        }
    }
}

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
    waiters: Arc<Waiters>,
    keys: Vec<String>,
}

impl Attempt {
    /// Ends the attempt: `keep` leaves it counted (a failure), otherwise it
    /// is given back (a success, or work that never ran).
    pub(crate) async fn settle(mut self, keep: bool) {
        let keys = std::mem::take(&mut self.keys);
        settle(&*self.store, &self.waiters, &keys, keep, None).await;
    }

    /// [`Attempt::settle`] and the audit entry of the attempt's outcome,
    /// written together ([`Store::settle_counters_and_audit`]: one statement
    /// on PostgreSQL). Either failing is logged, as each is alone.
    pub(crate) async fn settle_with_audit(
        mut self,
        keep: bool,
        mut entry: AuditEntry,
        outcome: AuditOutcome,
    ) {
        entry.outcome = outcome;
        let keys = std::mem::take(&mut self.keys);
        settle(&*self.store, &self.waiters, &keys, keep, Some(&entry)).await;
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.keys);
        let store = self.store.clone();
        let waiters = self.waiters.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { settle(&*store, &waiters, &keys, true, None).await });
        }
    }
}

/// Settles `keys` (nothing to write when there are none: the limits were
/// off) together with `audit` when given, logs a failure, and wakes this
/// node's attempts waiting on those keys.
async fn settle(
    store: &dyn Store,
    waiters: &Waiters,
    keys: &[String],
    keep: bool,
    audit: Option<&AuditEntry>,
) {
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let written = match audit {
        None if refs.is_empty() => Ok(()),
        None => store.settle_counters(&refs, keep).await,
        Some(entry) if refs.is_empty() => store.append_audit(entry).await,
        Some(entry) => store.settle_counters_and_audit(&refs, keep, entry).await,
    };
    if let Err(e) = written {
        tracing::warn!(
            error = %e,
            action = audit.map(|a| a.action.as_str()),
            "a rate-limit counter could not be settled or an audit entry written"
        );
    }
    for key in keys {
        waiters.wake(key);
    }
}

impl Core {
    /// Counts an attempt against every limit at once
    /// ([`Store::hit_counters`]: all or nothing). When one is at its limit
    /// (after waiting up to 10 s for running attempts to end; see the
    /// module's documentation for how a waiting attempt is woken), nothing
    /// stays counted and the answer is [`Error::TooManyAttempts`] with that
    /// limit's message and wait.
    pub(crate) async fn begin_attempt(&self, limits: &[Limit]) -> Result<Attempt> {
        // A limit of `u32::MAX` is off: nothing is counted, so a setting
        // that lifts a limit costs no store write (and no shared counter
        // row that every request would take in turn).
        let limits: Vec<&Limit> = limits.iter().filter(|l| l.limit != u32::MAX).collect();
        let mut attempt = Attempt {
            store: self.store.clone(),
            waiters: self.limit_waiters.clone(),
            keys: Vec::new(),
        };
        if limits.is_empty() {
            return Ok(attempt);
        }
        let counters: Vec<CounterLimit<'_>> = limits
            .iter()
            .map(|l| CounterLimit {
                key: &l.key,
                window: l.window,
                limit: l.limit,
            })
            .collect();
        let deadline = Instant::now() + MAX_WAIT;
        // Joined at the first `Pending` (of the key that answered it), so an
        // attempt that is counted straight away never touches the map.
        let mut slot: Option<WaitSlot> = None;
        let mut poll = POLL;
        let too_many = |limit: &Limit, retry_after: Duration| {
            crate::metrics::rate_limited(metric_label(&limit.key));
            Error::TooManyAttempts {
                message: limit.message.into(),
                retry_after,
            }
        };
        loop {
            // Listening before asking: a settle between the store's
            // answer and the wait below is not missed.
            let notified = slot.as_ref().map(|s| s.notify.clone().notified_owned());
            tokio::pin!(notified);
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            let (i, hit) = match self.store.hit_counters(&counters).await {
                Ok(None) => break,
                Ok(Some(refused)) => refused,
                Err(e) => return Err(Error::store(Resource::Setting, e)),
            };
            let Some(&limit) = limits.get(i) else {
                let e = StoreError::other(format!(
                    "hit_counters answered counter {i} of {}",
                    limits.len()
                ));
                return Err(Error::store(Resource::Setting, e));
            };
            match hit {
                CounterHit::Limited(wait) => {
                    return Err(too_many(limit, wait.max(Duration::from_secs(1))))
                }
                // Full of running attempts (`Counted` here would break the
                // contract; it is treated the same way).
                CounterHit::Pending | CounterHit::Counted => {}
            }
            if slot.as_ref().is_none_or(|s| s.key != limit.key) {
                // Ask once more now that this attempt listens.
                slot = Some(self.limit_waiters.join(&limit.key));
                continue;
            }
            #[cfg(test)]
            self.limit_waiters.counted_ask();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(too_many(limit, Duration::from_secs(1)));
            }
            if let Some(n) = notified.as_pin_mut() {
                // Woken by a settle of this node: ask now, and keep the
                // back-off; timed out: wait longer next time.
                if tokio::time::timeout(poll.min(left), n).await.is_err() {
                    poll = (poll * 2).min(MAX_POLL);
                }
            }
        }
        attempt.keys = limits.iter().map(|l| l.key.clone()).collect();
        Ok(attempt)
    }

    /// Counts a one-shot action (a sign-up, a GitHub sign-in, a WebSocket
    /// connect) against `limit`: it stays counted for the whole window.
    pub(crate) async fn count_action(&self, limit: Limit) -> Result<()> {
        self.begin_attempt(&[limit]).await?.settle(true).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{store::MemoryStore, Slipway};
    use std::sync::atomic::Ordering;

    fn memory_slipway() -> Slipway {
        Slipway::builder()
            .secret(b"an instance secret of at least 32 bytes!".to_vec())
            .store(MemoryStore::new())
            .build()
            .unwrap()
    }

    fn limit() -> Limit {
        Limit {
            key: "test:one".into(),
            limit: 1,
            window: Duration::from_secs(60),
            message: "too many",
        }
    }

    /// An attempt waiting on a full counter asks the store on a doubling
    /// back-off (not every 20 ms), is let through by a settle of this node
    /// at once, and leaves no entry behind. Virtual time: nothing here
    /// depends on the machine's speed.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_attempt_is_woken_by_a_settle_and_polls_rarely() {
        let slipway = memory_slipway();
        let core = &slipway.inner.core;
        let first = core.begin_attempt(&[limit()]).await.unwrap();
        let waiting = {
            let slipway = slipway.clone();
            tokio::spawn(async move { slipway.inner.core.begin_attempt(&[limit()]).await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished(), "the counter is full");
        assert_eq!(core.limit_waiters.len(), 1);
        let asks = core.limit_waiters.asks.load(Ordering::Relaxed);
        // 20 ms doubling to 320 ms: 20+40+80+160 then 320 ms steps, about
        // 19 asks in 5 s (250 with a fixed 20 ms beat).
        assert!((10..=25).contains(&asks), "{asks} asks in 5 s");

        let settled_at = tokio::time::Instant::now();
        first.settle(false).await;
        let second = waiting
            .await
            .unwrap()
            .expect("let through after the settle");
        assert_eq!(
            tokio::time::Instant::now(),
            settled_at,
            "woken by the settle, not by its back-off timer"
        );
        assert_eq!(core.limit_waiters.len(), 0, "the key's entry is gone");
        second.settle(false).await;
    }

    /// A limit of `u32::MAX` counts nothing: a held unlimited attempt does
    /// not fill the key's counter for a limited one.
    #[tokio::test(start_paused = true)]
    async fn an_unlimited_limit_counts_nothing() {
        let slipway = memory_slipway();
        let core = &slipway.inner.core;
        let unlimited = Limit {
            limit: u32::MAX,
            ..limit()
        };
        let held = core.begin_attempt(&[unlimited]).await.unwrap();
        let started = tokio::time::Instant::now();
        let limited = core.begin_attempt(&[limit()]).await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO, "counted at once");
        limited.settle(false).await;
        held.settle(false).await;
    }

    /// An attempt refused by one of its counters keeps no count on the
    /// others, and names the refusing counter's message.
    #[tokio::test(start_paused = true)]
    async fn a_refused_attempt_keeps_nothing_on_its_other_counters() {
        let slipway = memory_slipway();
        let core = &slipway.inner.core;
        let other = || Limit {
            key: "test:other".into(),
            message: "other",
            ..limit()
        };
        // `test:one` full with a failure that stays counted.
        core.begin_attempt(&[limit()])
            .await
            .unwrap()
            .settle(true)
            .await;
        let refused = core.begin_attempt(&[other(), limit()]).await;
        match refused {
            Err(Error::TooManyAttempts { message, .. }) => assert_eq!(message, "too many"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        let started = tokio::time::Instant::now();
        let counted = core.begin_attempt(&[other()]).await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO, "`test:other` had room");
        counted.settle(false).await;
    }

    /// With nobody settling, a waiting attempt is refused after the
    /// maximum wait, and its entry is removed.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_attempt_gives_up_after_the_maximum_wait() {
        let slipway = memory_slipway();
        let core = &slipway.inner.core;
        let _first = core.begin_attempt(&[limit()]).await.unwrap();
        let started = tokio::time::Instant::now();
        let refused = core.begin_attempt(&[limit()]).await;
        assert!(
            matches!(refused, Err(Error::TooManyAttempts { .. })),
            "{:?}",
            refused.err()
        );
        let waited = started.elapsed();
        assert!(
            waited >= MAX_WAIT && waited < MAX_WAIT + MAX_POLL,
            "{waited:?}"
        );
        assert_eq!(core.limit_waiters.len(), 0);
    }
}

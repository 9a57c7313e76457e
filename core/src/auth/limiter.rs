//! Counts failed sign-ins per key (email) in a sliding window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed-attempt limiter: after `max_failures` failures within `window`,
/// further attempts are refused until the window of the first failure ends.
pub(crate) struct Limiter {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Limiter {
    pub(crate) fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(wait)` when `key` is locked out.
    pub(crate) fn check(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        let map = self.lock();
        let (count, start) = map.get(key)?;
        let elapsed = now.duration_since(*start);
        if *count >= self.max_failures && elapsed < self.window {
            Some(self.window - elapsed)
        } else {
            None
        }
    }

    pub(crate) fn fail(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, (_, start)| now.duration_since(*start) < window);
        }
        let entry = map.entry(key.to_string()).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub(crate) fn succeed(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_resets_on_success() {
        let l = Limiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check("a").is_none());
            l.fail("a");
        }
        assert!(l.check("a").is_some());
        assert!(l.check("b").is_none());
        l.succeed("a");
        assert!(l.check("a").is_none());
    }

    #[test]
    fn window_expires() {
        let l = Limiter::new(1, Duration::from_millis(1));
        l.fail("a");
        std::thread::sleep(Duration::from_millis(5));
        assert!(l.check("a").is_none());
    }
}

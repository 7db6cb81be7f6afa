//! Failed-login limiter: at most N failures per key (an email, a client IP) within a sliding
//! window. In memory, per process: with several instances each enforces its own budget, so the
//! effective limit is N per instance (noted in the README; a shared store can replace this).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` when any key is over budget: how long until its oldest failure expires.
    pub fn check(&self, keys: &[&str]) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut retry = None::<Duration>;
        for key in keys {
            if let Some(q) = map.get_mut(*key) {
                prune(q, now, self.window);
                if q.len() >= self.max_failures
                    && let Some(oldest) = q.front()
                {
                    let wait = self.window.saturating_sub(now - *oldest);
                    retry = Some(retry.map_or(wait, |r| r.max(wait)));
                }
            }
        }
        match retry {
            Some(wait) => Err(wait.as_secs().max(1)),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, keys: &[&str]) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Keep memory bounded under a spray of distinct emails: drop expired keys now and then.
        if map.len() > 10_000 {
            map.retain(|_, q| {
                prune(q, now, self.window);
                !q.is_empty()
            });
        }
        for key in keys {
            let q = map.entry((*key).to_owned()).or_default();
            prune(q, now, self.window);
            q.push_back(now);
            while q.len() > self.max_failures {
                q.pop_front();
            }
        }
    }

    /// A successful login clears its email's failures (not its IP's: one good password must not
    /// reset an address that is guessing at other accounts).
    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_failure_is_refused_until_the_window_passes() {
        let l = LoginLimiter::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(l.check(&["a@x", "1.2.3.4"]).is_ok());
            l.record_failure(&["a@x", "1.2.3.4"]);
        }
        assert!(l.check(&["a@x"]).is_err());
        assert!(
            l.check(&["b@x", "1.2.3.4"]).is_err(),
            "the IP is over budget too"
        );
        assert!(l.check(&["b@x", "5.6.7.8"]).is_ok());
        l.clear("a@x");
        assert!(l.check(&["a@x"]).is_ok());
        std::thread::sleep(Duration::from_millis(220));
        assert!(l.check(&["1.2.3.4"]).is_ok());
    }
}

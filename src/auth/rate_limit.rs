//! Failed-login limiter: at most N failures per key (an email, a client network) within a
//! sliding window. An attempt is counted *before* the password is checked and forgiven only if
//! it succeeds, so concurrent guesses cannot all slip past the check.
//!
//! In memory, per process: with several instances each keeps its own budget (noted in the
//! README; a shared store is the upgrade path).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// An attempt in flight, counted against its keys until `succeeded` forgives it.
#[must_use]
pub struct Attempt {
    keys: Vec<String>,
    at: Instant,
}

/// The rate-limit key of a client address: IPv4 as is, IPv6 by its /64 (one customer's
/// allocation), IPv4-mapped IPv6 as the IPv4 address.
pub fn network_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl LoginLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt against every key, or refuses it with the seconds until the oldest
    /// counted attempt of a full key expires.
    pub fn begin(&self, keys: &[&str]) -> Result<Attempt, u64> {
        let now = Instant::now();
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        // Keep memory bounded under a spray of distinct keys: drop expired ones now and then.
        if map.len() > 10_000 {
            map.retain(|_, q| {
                prune(q, now, self.window);
                !q.is_empty()
            });
        }
        let mut wait = None::<Duration>;
        for key in keys {
            if let Some(q) = map.get_mut(*key) {
                prune(q, now, self.window);
                if q.len() >= self.max_failures
                    && let Some(oldest) = q.front()
                {
                    let w = self.window.saturating_sub(now - *oldest);
                    wait = Some(wait.map_or(w, |x| x.max(w)));
                }
            }
        }
        if let Some(w) = wait {
            return Err(w.as_secs().max(1));
        }
        for key in keys {
            map.entry((*key).to_owned()).or_default().push_back(now);
        }
        Ok(Attempt {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            at: now,
        })
    }

    /// A successful attempt does not count: its entries are removed again.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        for key in &attempt.keys {
            if let Some(q) = map.get_mut(key)
                && let Some(pos) = q.iter().rposition(|t| *t == attempt.at)
            {
                q.remove(pos);
            }
        }
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
    fn failures_are_counted_up_front_and_successes_forgiven() {
        let l = LoginLimiter::new(3, Duration::from_millis(200));
        // Three attempts in flight at once fill the budget before any password is checked.
        let a: Vec<_> = (0..3).map(|_| l.begin(&["e:a", "ip:1"]).unwrap()).collect();
        assert!(l.begin(&["e:a"]).is_err());
        assert!(
            l.begin(&["e:b", "ip:1"]).is_err(),
            "the address is full too"
        );
        assert!(l.begin(&["e:b", "ip:2"]).is_ok());
        // One of them succeeds: it no longer counts.
        let mut a = a.into_iter();
        l.succeeded(a.next().unwrap());
        assert!(l.begin(&["e:a"]).is_ok());
        std::thread::sleep(Duration::from_millis(220));
        assert!(l.begin(&["ip:1"]).is_ok(), "the window passed");
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(network_key(a), network_key(b));
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(network_key(mapped), "ip:10.1.2.3");
    }
}

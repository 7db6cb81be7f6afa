//! Failed-login limiter: at most N failures per key (an email, a client network) within a
//! sliding window. Attempts in flight count against the budget until they finish, so concurrent
//! guesses cannot all slip past the check; an attempt that finds the budget taken only by
//! others in flight waits for them instead of being refused (fifty colleagues behind one NAT
//! signing in at nine o'clock all get in).
//!
//! In memory, per process: with several instances each keeps its own budget (noted in the
//! README; a shared store is the upgrade path).

use std::collections::HashMap;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    keys: Mutex<HashMap<String, KeyState>>,
}

#[derive(Default)]
struct KeyState {
    failures: VecDeque<Instant>,
    in_flight: usize,
}

/// Why an attempt may not start now.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The failures alone fill the budget: seconds until the oldest expires.
    Limited(u64),
    /// Attempts in flight fill what is left of it: try again shortly.
    Busy,
}

/// An attempt in flight. Unless `succeeded` is called, dropping it records a failure (so an
/// error half-way, a cancelled request, still counts).
#[must_use]
pub struct Attempt {
    limiter: Arc<LoginLimiter>,
    keys: Vec<String>,
    success: bool,
}

impl Attempt {
    pub fn succeeded(mut self) {
        self.success = true;
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut map = self.limiter.keys.lock().unwrap_or_else(|p| p.into_inner());
        for key in &self.keys {
            let state = map.entry(key.clone()).or_default();
            state.in_flight = state.in_flight.saturating_sub(1);
            if !self.success {
                state.failures.push_back(now);
            }
        }
    }
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
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Starts an attempt against every key, or says why not.
    pub fn begin(self: &Arc<Self>, keys: &[&str]) -> Result<Attempt, Refusal> {
        let now = Instant::now();
        let mut map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        // Keep memory bounded under a spray of distinct keys: drop idle ones now and then.
        if map.len() > 10_000 {
            map.retain(|_, s| {
                prune(&mut s.failures, now, self.window);
                !s.failures.is_empty() || s.in_flight > 0
            });
        }
        let mut wait = None::<Duration>;
        let mut busy = false;
        for key in keys {
            if let Some(s) = map.get_mut(*key) {
                prune(&mut s.failures, now, self.window);
                if s.failures.len() >= self.max_failures {
                    if let Some(oldest) = s.failures.front() {
                        let w = self.window.saturating_sub(now - *oldest);
                        wait = Some(wait.map_or(w, |x| x.max(w)));
                    }
                } else if s.failures.len() + s.in_flight >= self.max_failures {
                    busy = true;
                }
            }
        }
        if let Some(w) = wait {
            return Err(Refusal::Limited(w.as_secs().max(1)));
        }
        if busy {
            return Err(Refusal::Busy);
        }
        for key in keys {
            map.entry((*key).to_owned()).or_default().in_flight += 1;
        }
        Ok(Attempt {
            limiter: self.clone(),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            success: false,
        })
    }

    /// `begin`, waiting (up to `patience`) while other attempts in flight hold the budget.
    pub async fn begin_waiting(
        self: &Arc<Self>,
        keys: &[&str],
        patience: Duration,
    ) -> Result<Attempt, u64> {
        let deadline = Instant::now() + patience;
        loop {
            match self.begin(keys) {
                Ok(a) => return Ok(a),
                Err(Refusal::Limited(secs)) => return Err(secs),
                Err(Refusal::Busy) if Instant::now() >= deadline => return Err(1),
                Err(Refusal::Busy) => tokio::time::sleep(Duration::from_millis(20)).await,
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
    fn in_flight_attempts_hold_the_budget_and_failures_fill_it() {
        let l = Arc::new(LoginLimiter::new(3, Duration::from_millis(200)));
        let a: Vec<_> = (0..3).map(|_| l.begin(&["e:a", "ip:1"]).unwrap()).collect();
        assert_eq!(l.begin(&["e:a"]).err(), Some(Refusal::Busy));
        assert_eq!(
            l.begin(&["e:b", "ip:1"]).err(),
            Some(Refusal::Busy),
            "the address is held too"
        );
        assert!(l.begin(&["e:b", "ip:2"]).is_ok());
        let mut a = a.into_iter();
        a.next().unwrap().succeeded();
        l.begin(&["e:a"])
            .expect("a success frees its slot")
            .succeeded();
        drop(a); // two failures
        let third = l.begin(&["e:a"]).unwrap();
        drop(third); // the third failure
        assert!(matches!(l.begin(&["e:a"]), Err(Refusal::Limited(_))));
        std::thread::sleep(Duration::from_millis(220));
        assert!(l.begin(&["e:a", "ip:1"]).is_ok(), "the window passed");
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

//! Rate limits: every GraphQL operation is charged its measured complexity (at least 1) against
//! GCRA token buckets (`governor`): one per member and one per organization for signed-in
//! callers, one per client IP for anonymous ones (register, login, refresh). Subscriptions are
//! charged when they start; analytics ingestion by its event count. A bucket holds a minute's
//! budget and refills continuously.
//!
//! Over budget: `RATE_LIMITED` with `extensions.retryAfter`; every GraphQL response carries
//! `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers structured fields).
//! Counters live in this process: with several instances each keeps its own (the README names
//! the shared-store upgrade path). Key maps are pruned every minute (`retain_recent`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{self, HeaderMap, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use crate::error::AppError;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// Budgets per minute (`PLUGS_RATE_USER_COST_PER_MINUTE`, `PLUGS_RATE_ORG_COST_PER_MINUTE`,
/// `PLUGS_RATE_IP_COST_PER_MINUTE`); 0 turns a bucket off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateConfig {
    pub user_per_minute: u32,
    pub org_per_minute: u32,
    pub ip_per_minute: u32,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            user_per_minute: 30_000,
            org_per_minute: 300_000,
            ip_per_minute: 600,
        }
    }
}

struct Bucket<K: std::hash::Hash + Eq + Clone> {
    name: &'static str,
    per_minute: NonZeroU32,
    limiter: Keyed<K>,
    limited: AtomicU64,
}

impl<K: std::hash::Hash + Eq + Clone> Bucket<K> {
    fn new(name: &'static str, per_minute: u32) -> Option<Self> {
        let per_minute = NonZeroU32::new(per_minute)?;
        Some(Self {
            name,
            per_minute,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute))
                .with_middleware::<StateInformationMiddleware>(),
            limited: AtomicU64::new(0),
        })
    }

    /// Charges `cost`; the remaining budget, or why not (and the bucket's state then).
    fn charge(&self, key: &K, cost: u32) -> Result<Left, Spent> {
        let n = NonZeroU32::new(cost.max(1)).expect("at least 1");
        match self.limiter.check_key_n(key, n) {
            Ok(Ok(snapshot)) => Ok(Left {
                name: self.name,
                quota: self.per_minute.get(),
                remaining: snapshot.remaining_burst_capacity(),
                full_in: None,
            }),
            Ok(Err(not_until)) => {
                self.limited.fetch_add(1, Ordering::Relaxed);
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                // The bucket refills one point every 60/quota s: `cost` points are there after
                // `wait`, so it holds `cost - wait/cell` now and is full `quota - cost` cells
                // after `wait`.
                let quota = u64::from(self.per_minute.get());
                let cell_ms = 60_000 / quota.max(1);
                let wait_ms = wait.as_millis() as u64;
                let missing = wait_ms.div_ceil(cell_ms.max(1));
                let remaining = u64::from(n.get()).saturating_sub(missing) as u32;
                let full_ms = wait_ms + quota.saturating_sub(u64::from(n.get())) * cell_ms;
                Err(Spent::Wait {
                    retry_after: wait_ms.div_ceil(1000).max(1),
                    left: Left {
                        name: self.name,
                        quota: self.per_minute.get(),
                        remaining,
                        full_in: Some(full_ms.div_ceil(1000)),
                    },
                })
            }
            // More than a whole minute's budget: it can never run.
            Err(_) => {
                self.limited.fetch_add(1, Ordering::Relaxed);
                Err(Spent::Never {
                    quota: self.per_minute.get(),
                })
            }
        }
    }
}

/// Why a bucket refused a charge.
enum Spent {
    Wait {
        retry_after: u64,
        left: Left,
    },
    /// The cost is more than the bucket ever holds.
    Never {
        quota: u32,
    },
}

/// What is left in one bucket after a charge.
#[derive(Clone, Copy, Debug)]
pub struct Left {
    name: &'static str,
    quota: u32,
    remaining: u32,
    /// Seconds until full, when known exactly (a refusal); else from `remaining`.
    full_in: Option<u64>,
}

/// Who is charged.
#[derive(Clone, Copy, Debug)]
pub enum Payer {
    Member { user: Uuid, organization: Uuid },
    Anonymous(Option<IpAddr>),
}

/// The key of an anonymous caller's bucket: an IPv6 client by its /64 (one subscriber's
/// addresses), an unknown address by one shared key (never uncharged).
fn ip_key(ip: Option<IpAddr>) -> IpAddr {
    match ip {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        Some(v4) => v4,
        None => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// The instance's buckets. Cheap to clone.
#[derive(Clone)]
pub struct RateLimits(Arc<Inner>);

struct Inner {
    user: Option<Bucket<Uuid>>,
    org: Option<Bucket<Uuid>>,
    ip: Option<Bucket<IpAddr>>,
}

/// A charge refused: the error and the headers to answer with.
#[derive(Debug)]
pub struct Refused {
    pub error: AppError,
    pub headers: HeaderMap,
}

/// A charge that went through: the headers to send.
#[derive(Debug, Default)]
pub struct Charged(Vec<Left>);

impl RateLimits {
    pub fn new(c: RateConfig) -> Self {
        Self(Arc::new(Inner {
            user: Bucket::new("user", c.user_per_minute),
            org: Bucket::new("org", c.org_per_minute),
            ip: Bucket::new("ip", c.ip_per_minute),
        }))
    }

    /// Charges `cost` to the payer's buckets (member, then organization), or the error to
    /// answer, with the headers either way.
    pub fn charge(&self, payer: Payer, cost: u32) -> Result<Charged, Box<Refused>> {
        let mut left = Vec::new();
        let refuse = |spent: Spent, mut left: Vec<Left>| {
            let (error, retry_after) = match spent {
                Spent::Wait {
                    retry_after,
                    left: l,
                } => {
                    left.push(l);
                    (AppError::RateLimited { retry_after }, Some(retry_after))
                }
                Spent::Never { quota } => (
                    AppError::QueryTooComplex(format!(
                        "this operation costs {cost} points, more than the {quota} a minute's budget holds: ask for less"
                    )),
                    None,
                ),
            };
            let mut headers = Charged(left).headers();
            if let Some(v) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
                headers.insert(http::header::RETRY_AFTER, v);
            }
            Box::new(Refused { error, headers })
        };
        match payer {
            Payer::Member { user, organization } => {
                if let Some(b) = &self.0.user {
                    match b.charge(&user, cost) {
                        Ok(l) => left.push(l),
                        Err(s) => return Err(refuse(s, vec![])),
                    }
                }
                if let Some(b) = &self.0.org {
                    match b.charge(&organization, cost) {
                        Ok(l) => left.push(l),
                        Err(s) => return Err(refuse(s, left)),
                    }
                }
            }
            Payer::Anonymous(ip) => {
                if let Some(b) = &self.0.ip {
                    match b.charge(&ip_key(ip), cost) {
                        Ok(l) => left.push(l),
                        Err(s) => return Err(refuse(s, vec![])),
                    }
                }
            }
        }
        Ok(Charged(left))
    }

    /// Requests refused, by bucket (for `/metrics`).
    pub fn limited(&self) -> Vec<(&'static str, u64)> {
        let mut out = Vec::new();
        if let Some(b) = &self.0.user {
            out.push((b.name, b.limited.load(Ordering::Relaxed)));
        }
        if let Some(b) = &self.0.org {
            out.push((b.name, b.limited.load(Ordering::Relaxed)));
        }
        if let Some(b) = &self.0.ip {
            out.push((b.name, b.limited.load(Ordering::Relaxed)));
        }
        out
    }

    /// Forgets keys whose buckets are full again, so the maps stay as small as the active set.
    pub fn prune(&self) {
        if let Some(b) = &self.0.user {
            b.limiter.retain_recent();
            b.limiter.shrink_to_fit();
        }
        if let Some(b) = &self.0.org {
            b.limiter.retain_recent();
            b.limiter.shrink_to_fit();
        }
        if let Some(b) = &self.0.ip {
            b.limiter.retain_recent();
            b.limiter.shrink_to_fit();
        }
    }

    /// Prunes every minute until the process ends.
    pub fn spawn_pruning(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                me.prune();
            }
        });
    }
}

impl Charged {
    /// `RateLimit-Policy: "user";q=30000;w=60, "org";q=300000;w=60` and
    /// `RateLimit: "user";r=29990;t=1, "org";r=...;t=...` (`t`: seconds until the bucket is
    /// full again).
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if self.0.is_empty() {
            return h;
        }
        let policy: Vec<String> = self
            .0
            .iter()
            .map(|l| format!("\"{}\";q={};w=60", l.name, l.quota))
            .collect();
        let state: Vec<String> = self
            .0
            .iter()
            .map(|l| {
                let used = u64::from(l.quota.saturating_sub(l.remaining));
                let t = l
                    .full_in
                    .unwrap_or_else(|| (used * 60).div_ceil(u64::from(l.quota)));
                format!("\"{}\";r={};t={t}", l.name, l.remaining)
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&policy.join(", ")) {
            h.insert("ratelimit-policy", v);
        }
        if let Ok(v) = HeaderValue::from_str(&state.join(", ")) {
            h.insert("ratelimit", v);
        }
        h
    }
}

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

    /// This bucket with nothing left (the header of a refusal).
    fn empty(&self) -> Left {
        Left {
            name: self.name,
            quota: self.per_minute.get(),
            remaining: 0,
        }
    }

    /// Charges `cost`; the remaining budget, or the seconds to wait.
    fn charge(&self, key: &K, cost: u32) -> Result<Left, u64> {
        let n = NonZeroU32::new(cost.max(1)).expect("at least 1");
        match self.limiter.check_key_n(key, n) {
            Ok(Ok(snapshot)) => Ok(Left {
                name: self.name,
                quota: self.per_minute.get(),
                remaining: snapshot.remaining_burst_capacity(),
            }),
            Ok(Err(not_until)) => {
                self.limited.fetch_add(1, Ordering::Relaxed);
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
            }
            // More than a whole minute's budget: it can never run.
            Err(_) => {
                self.limited.fetch_add(1, Ordering::Relaxed);
                Err(60)
            }
        }
    }
}

/// What is left in one bucket after a charge.
#[derive(Clone, Copy, Debug)]
pub struct Left {
    name: &'static str,
    quota: u32,
    remaining: u32,
}

/// Who is charged.
#[derive(Clone, Copy, Debug)]
pub enum Payer {
    Member { user: Uuid, organization: Uuid },
    Anonymous(Option<IpAddr>),
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
        let refuse = |retry_after: u64, left: Vec<Left>| {
            let mut h = Charged(left).headers();
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                h.insert(http::header::RETRY_AFTER, v);
            }
            Box::new(Refused {
                error: AppError::RateLimited { retry_after },
                headers: h,
            })
        };
        match payer {
            Payer::Member { user, organization } => {
                if let Some(b) = &self.0.user {
                    match b.charge(&user, cost) {
                        Ok(l) => left.push(l),
                        Err(s) => return Err(refuse(s, vec![b.empty()])),
                    }
                }
                if let Some(b) = &self.0.org {
                    match b.charge(&organization, cost) {
                        Ok(l) => left.push(l),
                        Err(s) => {
                            left.push(b.empty());
                            return Err(refuse(s, left));
                        }
                    }
                }
            }
            Payer::Anonymous(ip) => {
                if let (Some(b), Some(ip)) = (&self.0.ip, ip) {
                    match b.charge(&ip, cost) {
                        Ok(l) => left.push(l),
                        Err(s) => return Err(refuse(s, vec![b.empty()])),
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
                let t = (used * 60).div_ceil(u64::from(l.quota));
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

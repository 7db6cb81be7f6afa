//! Authentication: passwords, access tokens, refresh tokens, the failed-login limiter.

pub mod identity;
pub mod jwt;
pub mod password;
pub mod rate_limit;
pub mod refresh;
pub mod sessions;

use std::sync::Arc;

pub use identity::{Actor, Caller, RequestMeta};

use crate::config::AuthConfig;

/// Everything authentication needs at run time, shared by all requests.
#[derive(Clone)]
pub struct Auth {
    pub jwt: Arc<jwt::JwtKeys>,
    pub hasher: password::Hasher,
    pub limiter: Arc<rate_limit::LoginLimiter>,
    pub refresh_ttl: std::time::Duration,
    /// Live sessions this instance remembers (kept current by the realtime hub).
    pub sessions: Arc<sessions::SessionCache>,
}

impl Auth {
    pub fn new(config: &AuthConfig) -> Self {
        Self {
            jwt: Arc::new(jwt::JwtKeys::new(config)),
            hasher: password::Hasher::new(config.hash_concurrency),
            limiter: Arc::new(rate_limit::LoginLimiter::new(
                config.login_max_failures,
                config.login_window,
            )),
            refresh_ttl: config.refresh_ttl,
            sessions: Arc::new(sessions::SessionCache::new(config.session_cache)),
        }
    }
}

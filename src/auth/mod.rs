//! Authentication: passwords, access tokens, refresh tokens, the failed-login limiter.

pub mod identity;
pub mod jwt;
pub mod password;
pub mod rate_limit;
pub mod refresh;

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
        }
    }
}

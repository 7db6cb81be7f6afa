//! Access tokens: JWT, HS256 only (the algorithm is pinned: `alg: none` and RS/ES tokens are
//! refused), issuer and audience checked, 15 minutes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::AuthConfig;
use crate::error::AppError;

/// Claims per API.md, plus `sid`: the refresh-token family (the session) the token was
/// issued for, so logging out or changing the password ends that session's access tokens too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub org: Uuid,
    pub adm: bool,
    pub sid: Uuid,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// Two-factor setup pending: the organization requires two-factor sign-in and the member
    /// has not set it up, so this token may only set it up (absent when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tfs: bool,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
    verified: Verified,
}

/// Tokens whose signature and claims were checked, by their exact text: a client sends the same
/// token with every request for its 15 minutes, and the HMAC, two base64 decodes and a JSON
/// parse were 5 % of a small read's CPU (#14). The same text verified with the same key gives
/// the same claims; only the time can change the answer, so expiry is checked on every use.
/// Bounded; when full it starts over (a flood of distinct valid tokens costs a check each).
#[derive(Default)]
struct Verified(Mutex<HashMap<Box<str>, Claims>>);

const VERIFIED: usize = 4096;

impl JwtKeys {
    pub fn new(config: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = config.jwt_leeway.as_secs();
        Self {
            encoding: EncodingKey::from_secret(config.jwt_secret.as_bytes()),
            decoding: DecodingKey::from_secret(config.jwt_secret.as_bytes()),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_ttl,
            verified: Verified::default(),
        }
    }

    /// The first whole second (Unix time) at which a token with this `exp` is refused:
    /// validation accepts while `now <= exp + leeway`.
    pub fn refused_from(&self, exp: i64) -> i64 {
        exp + self.validation.leeway as i64 + 1
    }

    /// Lifetime of an access token, in seconds (`AuthPayload.expiresIn`).
    pub fn ttl_secs(&self) -> i64 {
        self.ttl.as_secs() as i64
    }

    pub fn issue(
        &self,
        user: Uuid,
        org: Uuid,
        admin: bool,
        session: Uuid,
        two_factor_setup: bool,
    ) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            org,
            adm: admin,
            sid: session,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.ttl_secs(),
            jti: Uuid::new_v4(),
            tfs: two_factor_setup,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("signing an access token failed: {e}")))
    }

    /// Checks signature, algorithm, expiry, issuer and audience. The message says what is
    /// wrong without echoing the token.
    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        let now = chrono::Utc::now().timestamp();
        if let Ok(known) = self.verified.0.lock()
            && let Some(claims) = known.get(token)
            && now < self.refused_from(claims.exp)
        {
            return Ok(claims.clone());
        }
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "the access token has expired",
                    ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                        "the access token was not issued for this API"
                    }
                    _ => "the access token is invalid",
                };
                AppError::Unauthenticated(why.into())
            })?;
        if let Ok(mut known) = self.verified.0.lock() {
            if known.len() >= VERIFIED {
                known.clear();
            }
            known.insert(token.into(), claims.clone());
        }
        Ok(claims)
    }
}

//! argon2id with the OWASP parameters (m = 19456 KiB, t = 2, p = 1). A hash costs ~20 ms of CPU
//! and 19 MiB, so it runs on the blocking pool behind a semaphore: a burst of logins queues
//! there instead of starving the async workers that serve everything else.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OnceCell, Semaphore};

use crate::error::AppError;

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 128;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Length rules, checked before any hashing (`field` names the GraphQL argument).
pub fn validate(password: &str, field: &str) -> Result<(), AppError> {
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return Err(AppError::bad_input(
            field,
            format!("must be at least {MIN_LENGTH} characters"),
        ));
    }
    if n > MAX_LENGTH {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {MAX_LENGTH} characters"),
        ));
    }
    Ok(())
}

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Verified against when the email is unknown, so that answer takes as long as a wrong password.
    dummy: Arc<OnceCell<String>>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// Hashes `password` into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let _permit = self.permits.acquire().await.map_err(internal)?;
        tokio::task::spawn_blocking(move || hash_now(&password))
            .await
            .map_err(internal)?
    }

    /// Checks `password` against a stored PHC string.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, AppError> {
        let _permit = self.permits.acquire().await.map_err(internal)?;
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&phc).map_err(|e| {
                AppError::Internal(format!("stored password hash is malformed: {e}"))
            })?;
            Ok(argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(internal)?
    }

    /// Spends one verification's time and answers `false`: for unknown emails.
    pub async fn verify_dummy(&self, password: String) -> Result<bool, AppError> {
        let dummy = self
            .dummy
            .get_or_try_init(|| self.hash("dummy password for timing".into()))
            .await?
            .clone();
        self.verify(password, dummy).await.map(|_| false)
    }
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("password hashing task failed: {e}"))
}

fn hash_now(password: &str) -> Result<String, AppError> {
    // 16 bytes from the OS generator.
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(internal)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

/// Hashes without a shared semaphore (CLI seeding).
pub async fn hash(password: String) -> Result<String, AppError> {
    Hasher::new(1).hash(password).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_own_password_only() {
        let h = Hasher::new(1);
        let phc = h.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify("correct horse".into(), phc.clone()).await.unwrap());
        assert!(!h.verify("wrong horse".into(), phc).await.unwrap());
        assert!(!h.verify_dummy("anything".into()).await.unwrap());
    }

    #[test]
    fn lengths_are_checked_in_characters() {
        assert!(validate("short", "password").is_err());
        assert!(validate("ééééééééé", "password").is_ok());
        assert!(validate(&"x".repeat(129), "password").is_err());
    }
}

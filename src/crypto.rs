//! Secrets at rest (webhook signing secrets, integration credentials): AES-256-GCM with keys
//! from `PLUGS_ENCRYPTION_KEYS` (`id:base64key,...`, the first one encrypts, all of them
//! decrypt). Each ciphertext carries the id of its key (`<id>:<base64 nonce || ciphertext>`)
//! and is bound to where it belongs by associated data (table, organization, row), so a
//! ciphertext copied to another row does not decrypt. Outside production an unset variable
//! means one development key derived from the development secret (said so in the log).
//!
//! And the TLS crypto provider of outgoing HTTPS (ring), installed once per process.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Installs ring as rustls' provider (reqwest panics building a client without one). Safe to
/// call more than once.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Clone)]
pub struct Keyring {
    /// (id, key); the first encrypts.
    keys: Vec<(String, Key<Aes256Gcm>)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "Keyring({ids:?})")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the ciphertext is malformed")]
    Malformed,
    #[error("no key {0:?} is configured (PLUGS_ENCRYPTION_KEYS)")]
    UnknownKey(String),
    #[error("the ciphertext does not decrypt here (wrong key or moved from another row)")]
    Refused,
}

impl Keyring {
    /// `id:base64key,...` (standard base64 of 32 bytes; ids of letters, digits, `-`, `_`).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, b64) = part
                .split_once(':')
                .ok_or_else(|| format!("{part:?} is not id:base64key"))?;
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!("{id:?} is not a key id (letters, digits, - and _)"));
            }
            let bytes = STANDARD
                .decode(b64)
                .map_err(|_| format!("the key {id:?} is not base64"))?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| format!("the key {id:?} is not 32 bytes"))?;
            if keys.iter().any(|(k, _)| k == id) {
                return Err(format!("the key id {id:?} is given twice"));
            }
            keys.push((id.to_owned(), Key::<Aes256Gcm>::from(key)));
        }
        if keys.is_empty() {
            return Err("no keys".into());
        }
        Ok(Self { keys })
    }

    /// The development key: derived from the development secret, id `dev`.
    pub fn development(secret: &str) -> Self {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(b"plugs encryption key v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Self {
            keys: vec![("dev".into(), Key::<Aes256Gcm>::from(key))],
        }
    }

    /// These keys, then `older`'s (which decrypt only): a deployment's keys plus those it
    /// still reads.
    pub fn with_older(mut self, older: &Keyring) -> Self {
        for (id, key) in &older.keys {
            if !self.keys.iter().any(|(k, _)| k == id) {
                self.keys.push((id.clone(), *key));
            }
        }
        self
    }

    /// The id of the key that encrypts.
    pub fn current(&self) -> &str {
        &self.keys[0].0
    }

    /// Encrypts with the current key, bound to `aad`.
    pub fn encrypt(&self, plaintext: &[u8], aad: &str) -> String {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the OS random generator is available");
        let nonce = Nonce::from(nonce);
        let sealed = Aes256Gcm::new(key)
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any message this size");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{id}:{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypts a ciphertext of any configured key, bound to `aad`.
    pub fn decrypt(&self, ciphertext: &str, aad: &str) -> Result<Vec<u8>, CryptoError> {
        let (id, b64) = ciphertext.split_once(':').ok_or(CryptoError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, key)| key)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_owned()))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| CryptoError::Malformed)?;
        if bytes.len() < 12 + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        Aes256Gcm::new(key)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Refused)
    }

    /// Whether a ciphertext was made with a key other than the current one (rotation).
    pub fn is_stale(&self, ciphertext: &str) -> bool {
        ciphertext.split_once(':').map(|(id, _)| id) != Some(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ciphertext_decrypts_only_with_its_key_and_where_it_belongs() {
        let k1 = STANDARD.encode([1u8; 32]);
        let k2 = STANDARD.encode([2u8; 32]);
        let old = Keyring::parse(&format!("k1:{k1}")).unwrap();
        let both = Keyring::parse(&format!("k2:{k2}, k1:{k1}")).unwrap();
        let c = old.encrypt(b"whsec_abc", "webhook_endpoints/org/1");
        assert!(c.starts_with("k1:"));
        assert!(!c.contains("whsec"));
        assert_eq!(
            both.decrypt(&c, "webhook_endpoints/org/1").unwrap(),
            b"whsec_abc"
        );
        assert!(both.is_stale(&c));
        assert_eq!(
            both.decrypt(&c, "webhook_endpoints/org/2"),
            Err(CryptoError::Refused)
        );
        let other = Keyring::parse(&format!("k2:{k2}")).unwrap();
        assert_eq!(
            other.decrypt(&c, "webhook_endpoints/org/1"),
            Err(CryptoError::UnknownKey("k1".into()))
        );
        let mut tampered = c.clone();
        tampered.pop();
        tampered.push(if c.ends_with('A') { 'B' } else { 'A' });
        assert!(both.decrypt(&tampered, "webhook_endpoints/org/1").is_err());
        assert_ne!(
            old.encrypt(b"x", "a"),
            old.encrypt(b"x", "a"),
            "fresh nonces"
        );
        for bad in ["", "k1", "k1:!!", ":abc", "k1:AAAA,k1:AAAA"] {
            assert!(Keyring::parse(bad).is_err(), "{bad}");
        }
        assert!(Keyring::parse(&format!("k1:{k1},k1:{k2}")).is_err());
    }
}

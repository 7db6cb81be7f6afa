//! Persisted queries (`PLUGS_PERSISTED_QUERIES`):
//!
//! - `apq` (default): Apollo's automatic persisted queries. A request may send
//!   `extensions.persistedQuery { version: 1, sha256Hash }` without its text: a known hash runs
//!   the document registered under it, an unknown one answers `PERSISTED_QUERY_NOT_FOUND`, and
//!   the client then sends hash and text together, which registers the text (its SHA-256 must
//!   be the hash). Queries may come over GET by hash, so a CDN can cache them. Documents are
//!   kept in a bounded LRU (entries and bytes), per instance.
//! - `trusted`: only the documents of a manifest (`PLUGS_TRUSTED_DOCUMENTS`, a JSON object
//!   `{ "<sha256>": "<document>" }`, loaded and checked at start) run, by hash or by their exact
//!   text; any other text answers `PERSISTED_QUERY_NOT_FOUND`.
//! - `off`: a hash-only request answers `PERSISTED_QUERY_NOT_SUPPORTED`.
//!
//! This runs before every other step of `execute` (async-graphql's own APQ extension hands the
//! other steps an empty query string): a persisted document then meets exactly the checks and
//! the cost its text would (depth, complexity, aliases, directives, nesting, the rate budget).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_graphql::{ErrorExtensionValues, Request, ServerError, Value};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    Off,
    #[default]
    Apq,
    Trusted,
}

#[derive(Clone, Debug, Default)]
pub struct PersistedConfig {
    pub mode: Mode,
    /// `trusted` mode's documents by the hex SHA-256 of their text.
    pub manifest: Arc<HashMap<String, String>>,
}

impl PersistedConfig {
    /// Reads the mode and, in `trusted` mode, the manifest file; an error names its variable.
    pub fn from_env(
        mode: Option<&str>,
        manifest: Option<&str>,
    ) -> Result<Self, (&'static str, String)> {
        let mode = match mode.map(|m| m.trim().to_ascii_lowercase()).as_deref() {
            None | Some("apq") => Mode::Apq,
            Some("off") => Mode::Off,
            Some("trusted") => Mode::Trusted,
            Some(other) => {
                return Err((
                    "PLUGS_PERSISTED_QUERIES",
                    format!("{other:?} is not off, apq or trusted"),
                ));
            }
        };
        if mode != Mode::Trusted {
            return Ok(Self {
                mode,
                manifest: Arc::default(),
            });
        }
        const VAR: &str = "PLUGS_TRUSTED_DOCUMENTS";
        let path = manifest.ok_or((VAR, "must name the manifest file in trusted mode".into()))?;
        let text =
            std::fs::read_to_string(path).map_err(|e| (VAR, format!("cannot read {path}: {e}")))?;
        let documents: HashMap<String, String> = serde_json::from_str(&text).map_err(|e| {
            (
                VAR,
                format!("{path} is not a JSON object of hash to document: {e}"),
            )
        })?;
        if documents.is_empty() {
            return Err((VAR, format!("{path} lists no documents")));
        }
        for (hash, doc) in &documents {
            if sha256_hex(doc) != *hash {
                return Err((
                    VAR,
                    format!("{path}: {hash:?} is not the SHA-256 of its document"),
                ));
            }
        }
        Ok(Self {
            mode,
            manifest: Arc::new(documents),
        })
    }
}

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn error(code: &str, message: &str) -> ServerError {
    let mut e = ServerError::new(message, None);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code);
    e.extensions = Some(ext);
    e
}

fn not_found() -> ServerError {
    // The message Apollo clients look for, besides the code.
    error("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
}

/// The persisted-query step, with the APQ cache.
pub struct Persisted {
    config: PersistedConfig,
    cache: Mutex<Lru>,
}

/// At most this many registered documents, and this many bytes of them, per instance.
const CACHE_ENTRIES: usize = 2_000;
const CACHE_BYTES: usize = 16 * 1024 * 1024;

impl Persisted {
    pub fn new(config: PersistedConfig) -> Self {
        Self {
            config,
            cache: Mutex::new(Lru::default()),
        }
    }

    /// Fills in the request's text from its hash (or checks the text it sent against the
    /// hash); removes the extension, so a second call changes nothing. `Some(hash)`: a text
    /// to `register` once it has passed the limits (a document they refuse is not kept).
    pub fn resolve(&self, request: &mut Request) -> Result<Option<String>, ServerError> {
        let ext = request.extensions.0.remove("persistedQuery");
        let hash = match &ext {
            None => None,
            Some(v) => Some(parse_extension(v)?),
        };
        match (self.config.mode, hash) {
            (Mode::Off, Some(_)) if request.query.is_empty() => Err(error(
                "PERSISTED_QUERY_NOT_SUPPORTED",
                "PersistedQueryNotSupported",
            )),
            (Mode::Off, _) | (Mode::Apq, None) => Ok(None),
            (Mode::Apq, Some(hash)) => {
                if request.query.is_empty() {
                    let text = self.cache().get(&hash).ok_or_else(not_found)?;
                    request.query = text.to_string();
                    return Ok(None);
                }
                if sha256_hex(&request.query) != hash {
                    return Err(error(
                        "BAD_USER_INPUT",
                        "provided sha256Hash does not match the query",
                    ));
                }
                Ok(Some(hash))
            }
            (Mode::Trusted, Some(hash)) => {
                let doc = self.config.manifest.get(&hash).ok_or_else(not_found)?;
                if !request.query.is_empty() && request.query != *doc {
                    return Err(error(
                        "BAD_USER_INPUT",
                        "provided sha256Hash does not match the query",
                    ));
                }
                request.query.clone_from(doc);
                Ok(None)
            }
            (Mode::Trusted, None) => {
                if request.query.is_empty()
                    || self
                        .config
                        .manifest
                        .contains_key(&sha256_hex(&request.query))
                {
                    Ok(None)
                } else {
                    Err(not_found())
                }
            }
        }
    }

    /// Keeps `text` under `hash` (what `resolve` asked for, once the limits passed).
    pub fn register(&self, hash: String, text: &str) {
        self.cache().put(hash, text);
    }

    /// The text registered under `hash`, if any (without using it).
    pub fn peek(&self, hash: &str) -> Option<String> {
        let hash = hash.to_ascii_lowercase();
        match self.config.mode {
            Mode::Trusted => self.config.manifest.get(&hash).cloned(),
            Mode::Apq => self.cache().entries.get(&hash).map(|(t, _)| t.to_string()),
            Mode::Off => None,
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `{ version: 1, sha256Hash: "<64 hex>" }` -> the hash, lower case.
fn parse_extension(v: &Value) -> Result<String, ServerError> {
    let bad = || {
        error(
            "BAD_USER_INPUT",
            "extensions.persistedQuery must be { version: 1, sha256Hash: \"<64 hex digits>\" }",
        )
    };
    let Value::Object(o) = v else {
        return Err(bad());
    };
    match o.get("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        _ => return Err(bad()),
    }
    let Some(Value::String(hash)) = o.get("sha256Hash") else {
        return Err(bad());
    };
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(hash.to_ascii_lowercase())
}

/// Least recently used first out, bounded in entries and bytes.
#[derive(Default)]
struct Lru {
    entries: HashMap<String, (Arc<str>, u64)>,
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
}

impl Lru {
    fn get(&mut self, hash: &str) -> Option<Arc<str>> {
        self.tick += 1;
        let tick = self.tick;
        let (text, used) = self.entries.get_mut(hash)?;
        self.order.remove(used);
        *used = tick;
        self.order.insert(tick, hash.to_owned());
        Some(text.clone())
    }

    fn put(&mut self, hash: String, text: &str) {
        if self.get(&hash).is_some() || text.len() > CACHE_BYTES {
            return;
        }
        while self.entries.len() >= CACHE_ENTRIES || self.bytes + text.len() > CACHE_BYTES {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((t, _)) = self.entries.remove(&oldest) {
                self.bytes -= t.len();
            }
        }
        self.tick += 1;
        self.bytes += text.len();
        self.order.insert(self.tick, hash.clone());
        self.entries.insert(hash, (Arc::from(text), self.tick));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_document_goes_first() {
        let mut lru = Lru::default();
        for i in 0..CACHE_ENTRIES {
            lru.put(format!("h{i}"), "{ a }");
        }
        assert!(lru.get("h0").is_some());
        lru.put("new".into(), "{ b }");
        assert!(lru.get("h0").is_some(), "used recently: kept");
        assert!(lru.get("h1").is_none(), "the least recently used went");
        assert_eq!(lru.entries.len(), CACHE_ENTRIES);
        assert_eq!(lru.order.len(), CACHE_ENTRIES);
    }
}

//! Live sessions, remembered per instance so that a request does not re-read its user, its
//! organization and its session from the database each time.
//!
//! An entry says: session `family` of `user` in `org` was live, the user and the organization
//! active, with `is_admin`, when it was last read. Whatever can change that is announced as a
//! realtime [`Signal`] (logout, refresh-token reuse, password change, deactivation, deletion:
//! `SessionsEnded`; promotion or demotion: `AccessChanged`), and every instance's hub drops the
//! entries it concerns as the signal arrives (the writing instance right after its commit, the
//! others through `LISTEN`, a few milliseconds later). Entries also expire after the configured
//! lifetime, which bounds how long a change made behind the API's back (plain SQL) goes unseen.
//! While an instance's `LISTEN` connection is down it could miss signals, so it caches nothing
//! until the connection is back.
//!
//! A read that raced with a signal is not kept: every change bumps a generation, and an entry
//! read before the bump is refused.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::realtime::Signal;

/// At most this many sessions are remembered; past it the cache starts over.
const CAPACITY: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveSession {
    pub user: Uuid,
    pub org: Uuid,
    pub is_admin: bool,
}

pub struct SessionCache {
    /// Read by every authenticated request, written only on sign-in and on signals.
    entries: RwLock<HashMap<Uuid, (LiveSession, Instant)>>,
    ttl: Duration,
    generation: AtomicU64,
    enabled: AtomicBool,
}

/// Taken before reading the database; an entry is kept only if nothing changed meanwhile.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl SessionCache {
    /// `ttl` zero turns caching off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            ttl,
            generation: AtomicU64::new(0),
            enabled: AtomicBool::new(!ttl.is_zero()),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Uuid, (LiveSession, Instant)>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Uuid, (LiveSession, Instant)>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The session `family` as last read, if that was recently enough.
    pub fn get(&self, family: Uuid) -> Option<LiveSession> {
        if !self.enabled.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.read();
        let (live, at) = entries.get(&family)?;
        (at.elapsed() < self.ttl).then_some(*live)
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Remembers a session read from the database after `ticket` was taken.
    pub fn put(&self, ticket: Ticket, family: Uuid, live: LiveSession) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.write();
        // Checked under the lock that `forget` bumps it under: no signal slips in between.
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(family, (live, Instant::now()));
    }

    /// Drops what `signal` makes stale.
    pub fn forget(&self, signal: &Signal) {
        let user = match *signal {
            Signal::SessionsEnded { user, .. } | Signal::AccessChanged { user, .. } => user,
            _ => return,
        };
        let mut entries = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|family, (live, _)| {
            live.user != user
                || match signal {
                    Signal::SessionsEnded { .. } => !signal.ends_session(*family),
                    _ => false,
                }
        });
    }

    /// Forgets everything and caches nothing until [`resume`](Self::resume): the realtime
    /// feed is down, so signals may be missed.
    pub fn suspend(&self) {
        let mut entries = self.write();
        self.enabled.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    pub fn resume(&self) {
        let mut entries = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        self.enabled.store(!self.ttl.is_zero(), Ordering::Release);
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(user: Uuid) -> LiveSession {
        LiveSession {
            user,
            org: Uuid::nil(),
            is_admin: false,
        }
    }

    #[test]
    fn signals_drop_what_they_concern_and_races_are_not_kept() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let (a1, a2, b1) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        for (family, user) in [(a1, alice), (a2, alice), (b1, bob)] {
            cache.put(cache.ticket(), family, live(user));
        }
        let ended = |family, except| Signal::SessionsEnded {
            org: Uuid::nil(),
            user: alice,
            family,
            except,
        };
        cache.forget(&ended(Some(a1), None));
        assert_eq!(cache.get(a1), None);
        assert!(cache.get(a2).is_some() && cache.get(b1).is_some());
        cache.put(cache.ticket(), a1, live(alice));
        cache.forget(&ended(None, Some(a2)));
        assert_eq!(cache.get(a1), None);
        assert!(cache.get(a2).is_some());
        cache.forget(&Signal::AccessChanged {
            org: Uuid::nil(),
            user: alice,
        });
        assert_eq!(cache.get(a2), None);
        assert!(cache.get(b1).is_some());

        // Read before a signal, stored after it: refused.
        let ticket = cache.ticket();
        cache.forget(&ended(None, None));
        cache.put(ticket, a1, live(alice));
        assert_eq!(cache.get(a1), None);

        cache.suspend();
        cache.put(cache.ticket(), a1, live(alice));
        assert_eq!(cache.get(a1), None);
        assert_eq!(cache.get(b1), None);
        cache.resume();
        cache.put(cache.ticket(), a1, live(alice));
        assert!(cache.get(a1).is_some());
    }

    #[test]
    fn entries_expire_and_zero_turns_caching_off() {
        let cache = SessionCache::new(Duration::from_millis(1));
        let family = Uuid::new_v4();
        cache.put(cache.ticket(), family, live(Uuid::new_v4()));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.get(family), None);
        let off = SessionCache::new(Duration::ZERO);
        off.put(off.ticket(), family, live(Uuid::new_v4()));
        assert!(off.is_empty());
    }
}

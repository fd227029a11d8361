//! Console sessions, in memory only: a random 256-bit id (the cookie's value) maps to the signed-in principal's key
//! pair, its ARN and the session's CSRF token. A session ends at sign-out, after [`IDLE_SECONDS`] without a request,
//! or [`MAX_AGE_SECONDS`] after sign-in; a restarted server forgets every session (people sign in again). At most
//! [`MAX_SESSIONS`] live at once: a new one evicts the least recently used.

use crate::client::Keys;
use rand::RngCore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A session ends after this long without a request.
pub const IDLE_SECONDS: f64 = 60.0 * 60.0;
/// A session ends this long after sign-in.
pub const MAX_AGE_SECONDS: f64 = 12.0 * 60.0 * 60.0;
/// The most sessions kept.
pub const MAX_SESSIONS: usize = 4096;

/// A signed-in browser.
#[derive(Debug)]
pub struct Session {
    /// The keys every call is signed with.
    pub keys: Keys,
    /// The principal's ARN (STS GetCallerIdentity at sign-in).
    pub principal: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When it was signed in (epoch seconds).
    pub created: f64,
}

struct Entry {
    session: Arc<Session>,
    last_seen: f64,
}

/// The live sessions.
#[derive(Default)]
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether two secrets are equal, in time that depends only on their lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

impl Sessions {
    /// Starts a session at `now`; its id.
    pub fn create(&self, keys: Keys, principal: String, now: f64) -> (String, Arc<Session>) {
        let id = random_token();
        let session = Arc::new(Session { keys, principal, csrf: random_token(), created: now });
        let mut entries = self.lock();
        entries.retain(|_, e| live(e, now));
        if entries.len() >= MAX_SESSIONS
            && let Some(oldest) =
                entries.iter().min_by(|a, b| a.1.last_seen.total_cmp(&b.1.last_seen)).map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(id.clone(), Entry { session: session.clone(), last_seen: now });
        (id, session)
    }

    /// The live session with this id, marked used at `now`.
    pub fn get(&self, id: &str, now: f64) -> Option<Arc<Session>> {
        let mut entries = self.lock();
        let entry = entries.get_mut(id)?;
        if !live(entry, now) {
            entries.remove(id);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// How many sessions are held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves the map consistent (each operation is one map call).
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether a session may still be used at `now`.
fn live(entry: &Entry, now: f64) -> bool {
    now - entry.last_seen < IDLE_SECONDS && now - entry.session.created < MAX_AGE_SECONDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys { access_key_id: "AKIA".into(), secret_access_key: "s".into(), session_token: None }
    }

    #[test]
    fn ids_and_tokens_are_256_random_bits() {
        let sessions = Sessions::default();
        let (a, first) = sessions.create(keys(), "arn:a".into(), 0.0);
        let (b, second) = sessions.create(keys(), "arn:a".into(), 0.0);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(first.csrf, second.csrf);
        assert_ne!(a, first.csrf);
    }

    #[test]
    fn sessions_end_when_idle_when_old_and_at_sign_out() {
        let sessions = Sessions::default();
        let (id, _) = sessions.create(keys(), "arn:a".into(), 0.0);
        assert!(sessions.get(&id, IDLE_SECONDS - 1.0).is_some());
        assert!(sessions.get(&id, 2.0 * IDLE_SECONDS).is_none(), "idle for too long");
        let (id, _) = sessions.create(keys(), "arn:a".into(), 100.0);
        let mut now = 100.0;
        while now < 100.0 + MAX_AGE_SECONDS - 10.0 {
            assert!(sessions.get(&id, now).is_some());
            now += IDLE_SECONDS / 2.0;
        }
        assert!(sessions.get(&id, 100.0 + MAX_AGE_SECONDS).is_none(), "too old");
        let (id, _) = sessions.create(keys(), "arn:a".into(), 0.0);
        sessions.remove(&id);
        assert!(sessions.get(&id, 0.0).is_none());
        assert!(sessions.get("not-a-session", 0.0).is_none());
    }

    #[test]
    fn the_least_recently_used_session_makes_room() {
        let sessions = Sessions::default();
        let (first, _) = sessions.create(keys(), "arn:a".into(), 0.0);
        for i in 1..MAX_SESSIONS {
            sessions.create(keys(), "arn:a".into(), i as f64 / 1000.0);
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        sessions.create(keys(), "arn:a".into(), 5.0);
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.get(&first, 5.0).is_none());
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}

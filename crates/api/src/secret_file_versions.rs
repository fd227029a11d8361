//! Which value of each file-mode secret the server last delivered to a task, so that a new version reaching a
//! running task becomes a service event. Only a keyed digest of each value is kept (HMAC-SHA256 under a key drawn
//! when the server starts), in memory: after a server restart the first delivery sets the baseline silently.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;

/// Entries not delivered for this long, in seconds (their task stopped), are dropped.
const FORGET_AFTER: f64 = 3600.0;

type Key = (String, String, String);

/// The last delivered value's digest per (task ARN, container, secret name).
pub struct Delivered {
    key: [u8; 32],
    seen: Mutex<HashMap<Key, ([u8; 32], f64)>>,
}

impl Default for Delivered {
    fn default() -> Self {
        let mut key = [0u8; 32];
        let random = format!("{}{}", berth_model::ids::new_uuid(), berth_model::ids::new_uuid());
        key.copy_from_slice(&<Sha256 as sha2::Digest>::digest(random.as_bytes()));
        Self { key, seen: Mutex::default() }
    }
}

impl Delivered {
    fn digest(&self, value: &str) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else { return [0; 32] };
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Records that `value` was delivered for `container`'s secret `name` of `task_arn` at `now` (seconds on the
    /// server's clock); `true` when a different value had been delivered before.
    pub fn changed(&self, task_arn: &str, container: &str, name: &str, value: &str, now: f64) -> bool {
        let digest = self.digest(value);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, (_, at)| now - *at < FORGET_AFTER);
        let key = (task_arn.to_string(), container.to_string(), name.to_string());
        let previous = seen.insert(key, (digest, now));
        previous.is_some_and(|(before, _)| before != digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_different_value_after_a_first_one_is_a_change() {
        let d = Delivered::default();
        assert!(!d.changed("t", "app", "berth:file=/run/s/db", "v1", 0.0));
        assert!(!d.changed("t", "app", "berth:file=/run/s/db", "v1", 1.0));
        assert!(d.changed("t", "app", "berth:file=/run/s/db", "v2", 2.0));
        assert!(!d.changed("t2", "app", "berth:file=/run/s/db", "v3", 3.0), "another task starts its own baseline");
        // Forgotten after an hour without a delivery: the next one is a new baseline.
        assert!(!d.changed("t", "app", "berth:file=/run/s/db", "v4", 4000.0));
        assert_ne!(d.digest("v1"), Delivered::default().digest("v1"), "keyed per server run");
    }
}

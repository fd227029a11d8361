//! The agent's registration: its container instance ARN, its instance token and its registry credentials, shared
//! by the engine, the stream reader and the reporter, and kept on disk so a restarted agent rejoins as the same
//! container instance.
//!
//! The identity file holds the instance secret (owner-only, 0600): with it, and only with it, the agent rejoins as
//! the same container instance; the join token only ever creates new instances. An identity written before instance
//! secrets existed has only the ARN; the server then lets the agent rejoin once by join token while the instance is
//! disconnected, and the secret it issues is saved here.

use berth_model::Timestamp;
use berth_model::agent::{RegisterResponse, RegistryAuth};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// What survives an agent restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// The cluster joined.
    pub cluster: String,
    /// The container instance ARN received.
    pub container_instance_arn: String,
    /// The instance secret issued with the ARN (absent in identities written before instance secrets existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_secret: Option<String>,
}

impl Identity {
    /// The identity file for a cluster in the agent's data dir.
    pub fn path(data_dir: &Path, cluster: &str) -> PathBuf {
        data_dir.join(format!("identity-{cluster}.json"))
    }

    /// Loads the identity, if the agent joined this cluster before.
    pub fn load(data_dir: &Path, cluster: &str) -> Option<Self> {
        let text = std::fs::read(Self::path(data_dir, cluster)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Saves the identity atomically (temporary file, then rename), readable by its owner only: it holds the
    /// instance secret.
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(data_dir)?;
        let path = Self::path(data_dir, &self.cluster);
        let tmp = path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(0o600);
            // A leftover temporary file keeps its old mode through open(); make sure it is private.
            if tmp.exists() {
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        let mut file = options.open(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(tmp, path)
    }

    /// The identity after a registration answered `response`: the new ARN, and the secret issued with it (or the
    /// one kept, when the agent rejoined as the same instance).
    pub fn after(previous: Option<&Identity>, cluster: &str, response: &RegisterResponse) -> Identity {
        let same = previous.filter(|p| p.container_instance_arn == response.container_instance_arn);
        Identity {
            cluster: cluster.to_string(),
            container_instance_arn: response.container_instance_arn.clone(),
            instance_secret: response.instance_secret.clone().or_else(|| same.and_then(|p| p.instance_secret.clone())),
        }
    }
}

/// Registry credentials are refreshed once this share of their lifetime has passed (9 h of a 12 h token), so an
/// agent keeps working pulls through a refresh that fails a few times.
const REFRESH_AFTER: f64 = 0.75;

/// Whether registry credentials received at `received_at` (agent clock) should be refreshed at `now`. Credentials
/// without a lifetime (from an older server) are never refreshed.
pub fn registry_auth_due(auth: Option<&RegistryAuth>, received_at: Timestamp, now: Timestamp) -> bool {
    match auth.and_then(|a| a.ttl_seconds) {
        Some(ttl) => now - received_at >= ttl as f64 * REFRESH_AFTER,
        None => false,
    }
}

#[derive(Debug, Default)]
struct Data {
    instance_arn: String,
    token: String,
    registry_auth: Option<RegistryAuth>,
    registry_auth_received_at: Timestamp,
}

/// The current registration.
#[derive(Debug, Default)]
pub struct Session {
    data: RwLock<Data>,
}

impl Session {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a (re-)registration.
    pub fn update(&self, response: &RegisterResponse) {
        let mut data = self.data.write().unwrap_or_else(|p| p.into_inner());
        data.instance_arn = response.container_instance_arn.clone();
        data.token = response.instance_token.clone();
        data.registry_auth = response.registry_auth.clone();
    }

    /// The container instance ARN.
    pub fn instance_arn(&self) -> String {
        self.read().instance_arn.clone()
    }

    /// The instance token.
    pub fn token(&self) -> String {
        self.read().token.clone()
    }

    /// Credentials for Berth's registry.
    pub fn registry_auth(&self) -> Option<RegistryAuth> {
        self.read().registry_auth.clone()
    }

    /// Records registry credentials received at `now` (agent clock).
    pub fn set_registry_auth(&self, auth: Option<RegistryAuth>, now: Timestamp) {
        let mut data = self.data.write().unwrap_or_else(|p| p.into_inner());
        data.registry_auth = auth;
        data.registry_auth_received_at = now;
    }

    /// Whether the registry credentials should be refreshed at `now` (agent clock).
    pub fn registry_auth_due(&self, now: Timestamp) -> bool {
        let data = self.read();
        registry_auth_due(data.registry_auth.as_ref(), data.registry_auth_received_at, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: f64 = 3600.0;

    /// A registry that issues 12 h tokens and checks them, on a manual clock; the agent's reporter looks every
    /// 3 s whether to refresh. Pulls (token checks) work at 11 h, 13 h and 25 h, and every minute in between.
    #[test]
    fn registry_credentials_are_refreshed_before_they_expire() {
        let clock = berth_model::clock::ManualClock::new(1_000_000.0);
        use berth_model::clock::Clock;
        let issue = |now: Timestamp| RegistryAuth {
            password: format!("{}", now + 12.0 * HOUR), // "valid until"
            ttl_seconds: Some(12 * 3600),
            ..Default::default()
        };
        let pull_works = |auth: &RegistryAuth, now: Timestamp| auth.password.parse::<f64>().unwrap() > now;
        let start = clock.now();
        let session = Session::default();
        session.set_registry_auth(Some(issue(start)), start);
        let mut refreshes = 0;
        let mut step = 0u64;
        while clock.now() - start <= 26.0 * HOUR {
            if session.registry_auth_due(clock.now()) {
                session.set_registry_auth(Some(issue(clock.now())), clock.now());
                refreshes += 1;
            }
            if step.is_multiple_of(20) {
                assert!(pull_works(&session.registry_auth().unwrap(), clock.now()), "at {} s", clock.now() - start);
            }
            for at in [11.0, 13.0, 25.0] {
                if (clock.now() - start - at * HOUR).abs() < 1.5 {
                    assert!(pull_works(&session.registry_auth().unwrap(), clock.now()), "at {at} h");
                }
            }
            clock.advance(3.0);
            step += 1;
        }
        assert_eq!(refreshes, 2, "refreshed at 9 h and 18 h");
        // Without refreshes the first token fails at 13 h.
        assert!(!pull_works(&issue(start), start + 13.0 * HOUR));
    }

    #[test]
    fn credentials_without_a_lifetime_are_not_refreshed() {
        let auth = RegistryAuth::default();
        assert!(!registry_auth_due(Some(&auth), 0.0, 1e9));
        assert!(!registry_auth_due(None, 0.0, 1e9));
    }

    #[test]
    fn the_identity_keeps_its_secret_on_rejoin_and_takes_a_new_one_with_a_new_arn() {
        let old =
            Identity { cluster: "c".into(), container_instance_arn: "a".into(), instance_secret: Some("s".into()) };
        let rejoin = RegisterResponse { container_instance_arn: "a".into(), ..Default::default() };
        assert_eq!(Identity::after(Some(&old), "c", &rejoin).instance_secret.as_deref(), Some("s"));
        let fresh = RegisterResponse {
            container_instance_arn: "b".into(),
            instance_secret: Some("t".into()),
            ..Default::default()
        };
        assert_eq!(Identity::after(Some(&old), "c", &fresh).instance_secret.as_deref(), Some("t"));
        let dir = tempfile::tempdir().unwrap();
        old.save(dir.path()).unwrap();
        assert_eq!(Identity::load(dir.path(), "c").unwrap(), old);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(Identity::path(dir.path(), "c")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // An identity written before instance secrets existed still loads.
        std::fs::write(Identity::path(dir.path(), "c"), br#"{"cluster":"c","containerInstanceArn":"a"}"#).unwrap();
        assert_eq!(Identity::load(dir.path(), "c").unwrap().instance_secret, None);
    }
}

//! The agent's registration: its container instance ARN, its instance token and its registry credentials, shared
//! by the engine, the stream reader and the reporter, and kept on disk so a restarted agent rejoins as the same
//! container instance.

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

    /// Saves the identity atomically (temporary file, then rename).
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(data_dir)?;
        let path = Self::path(data_dir, &self.cluster);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, path)
    }
}

#[derive(Debug, Default)]
struct Data {
    instance_arn: String,
    token: String,
    registry_auth: Option<RegistryAuth>,
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
}

//! What the agent keeps on disk of its tasks' credentials endpoints, so that tasks it adopts after a restart keep
//! the URI their containers were created with: each credentials id with its task's ARN, the addresses allowed to
//! call it and a host task's token. Never the credentials themselves: the agent asks the server for them again.
//!
//! The file (`task-credentials.json` in the agent's data dir) is written whole, to a temporary file created with
//! mode 0600 and renamed over the old one, so a crash leaves the old or the new list, never half of one.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

/// The file's name in the agent's data dir.
pub const FILE: &str = "task-credentials.json";

/// One task's credentials endpoint as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedEntry {
    /// The credentials id (the last segment of the containers' URI).
    pub id: String,
    /// The task's ARN.
    pub task_arn: String,
    /// The source addresses the task's containers call from (bridge and awsvpc tasks).
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// A host task's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Reads the saved entries; a missing or unreadable file is an empty list (logged when unreadable).
pub fn load(path: &Path) -> Vec<SavedEntry> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the saved task credentials ids");
            return Vec::new();
        }
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|error| {
        tracing::warn!(path = %path.display(), %error, "the saved task credentials ids are not readable; ignored");
        Vec::new()
    })
}

/// Replaces the saved entries with `entries` (0600, atomically).
pub fn save(path: &Path, entries: &[SavedEntry]) -> std::io::Result<()> {
    let body = serde_json::to_vec(entries).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temporary)?;
        file.write_all(&body)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(load(&path).is_empty());
        let entries = vec![
            SavedEntry {
                id: "abc".into(),
                task_arn: "arn:task/a".into(),
                addresses: vec![IpAddr::from([172, 17, 0, 5])],
                token: None,
            },
            SavedEntry { id: "def".into(), task_arn: "arn:task/b".into(), addresses: vec![], token: Some("t".into()) },
        ];
        save(&path, &entries).unwrap();
        assert_eq!(load(&path), entries);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, b"{not json").unwrap();
        assert!(load(&path).is_empty());
    }
}

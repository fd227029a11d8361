//! What the shipper keeps on disk, per container, under `<agent data dir>/logs/`: its [`Checkpoint`]
//! (`<container id>.json`) and the batch it is sending (`<container id>.inflight.json`), written before the send
//! and removed after the store acknowledged it. A restarted agent sends that batch again with the same batch id
//! (the store keeps it once) before it reads on from the checkpoint, so no line is lost or stored twice across a
//! restart of the agent or of the server. Files are replaced by rename, so a crash leaves the old or the new one.

use super::cursor::Checkpoint;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A batch being sent: what to send again after a restart, and the checkpoint once it is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inflight {
    /// The batch id the store deduplicates by.
    pub batch_id: String,
    /// The log group.
    pub group: String,
    /// The log stream.
    pub stream: String,
    /// The events: (milliseconds since the epoch, message), in time order.
    pub events: Vec<(i64, String)>,
    /// The checkpoint once the batch is delivered (`None`: the batch completes no line).
    pub after: Option<Checkpoint>,
}

/// The shipper's directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// The state under `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn checkpoint_path(&self, container_id: &str) -> PathBuf {
        self.dir.join(format!("{container_id}.json"))
    }

    fn inflight_path(&self, container_id: &str) -> PathBuf {
        self.dir.join(format!("{container_id}.inflight.json"))
    }

    /// The container's checkpoint: the start of its log when it has none. An unreadable one is reported and
    /// read as none (its lines are shipped again rather than never).
    pub fn checkpoint(&self, container_id: &str) -> Option<Checkpoint> {
        read(&self.checkpoint_path(container_id))
    }

    /// Records the container's checkpoint.
    pub fn save_checkpoint(&self, container_id: &str, checkpoint: &Checkpoint) -> std::io::Result<()> {
        write(&self.dir, &self.checkpoint_path(container_id), checkpoint)
    }

    /// The batch the container's shipper was sending when it stopped, if any.
    pub fn inflight(&self, container_id: &str) -> Option<Inflight> {
        read(&self.inflight_path(container_id))
    }

    /// Records the batch about to be sent.
    pub fn save_inflight(&self, container_id: &str, inflight: &Inflight) -> std::io::Result<()> {
        write(&self.dir, &self.inflight_path(container_id), inflight)
    }

    /// Forgets the batch sent (it was delivered).
    pub fn clear_inflight(&self, container_id: &str) {
        remove(&self.inflight_path(container_id));
    }

    /// Forgets a container (it was removed).
    pub fn forget(&self, container_id: &str) {
        remove(&self.checkpoint_path(container_id));
        remove(&self.inflight_path(container_id));
    }

    /// The containers with state here.
    pub fn containers(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.split('.').next()).map(str::to_string))
            .filter(|id| !id.is_empty())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the log shipper's state; starting over");
            return None;
        }
    };
    serde_json::from_slice(&bytes)
        .map_err(|error| {
            tracing::warn!(path = %path.display(), %error, "the log shipper's state is unreadable; starting over")
        })
        .ok()
}

fn write<T: Serialize>(dir: &Path, path: &Path, value: &T) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let body = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}

fn remove(path: &Path) {
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), %error, "cannot remove the log shipper's state");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_and_inflight_batches_survive_and_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("logs"));
        assert_eq!(state.checkpoint("abc"), None);
        let checkpoint = Checkpoint { file: 10, offset: 3, finished: false };
        state.save_checkpoint("abc", &checkpoint).unwrap();
        let inflight = Inflight {
            batch_id: "b".into(),
            group: "g".into(),
            stream: "s".into(),
            events: vec![(1, "one".into())],
            after: Some(checkpoint),
        };
        state.save_inflight("abc", &inflight).unwrap();
        assert_eq!(state.checkpoint("abc"), Some(checkpoint));
        assert_eq!(state.inflight("abc"), Some(inflight));
        assert_eq!(state.containers(), ["abc"]);
        state.clear_inflight("abc");
        assert_eq!(state.inflight("abc"), None);
        std::fs::write(dir.path().join("logs/abc.json"), b"{not json").unwrap();
        assert_eq!(state.checkpoint("abc"), None, "an unreadable checkpoint reads as none");
        state.forget("abc");
        assert!(state.containers().is_empty());
    }
}

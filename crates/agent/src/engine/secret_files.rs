//! Berth's file-mode secrets on the agent ([`berth_model::secret_files`]): a container secret named
//! `berth:file=<path>` becomes the file `<path>` in the container instead of an environment variable, and follows
//! the secret's new versions while the task runs, without restarting it.
//!
//! # Layout
//! The files live under a directory the agent owns on the host's `/dev/shm` tmpfs (never on disk, never in the
//! agent's data dir): `<root>/<task id>/<container>/d<N>/<file>`, one `d<N>` per directory the container's file
//! secrets name (in sorted order, so an agent that restarts finds the same places). Each `d<N>` is bind-mounted
//! read-only at its directory in the container; `docker inspect` shows that host path, not the value. `<root>` and
//! the task directories are 0700; the files are 0444 so any user of the container reads them.
//!
//! # Rotation
//! A new value is written to `<root>/<task id>/<container>/.staging/` and renamed over the file (one tmpfs, so the
//! rename is atomic): a reader sees the old or the new value, whole. [`SecretFiles::refresh_every`] asks the server
//! for the file-mode secrets of every tracked task every [`REFRESH_EVERY`] (`POST /agent/v1/secrets` with
//! `refresh`, read with the task's execution role as at the start); the server records a service event when it
//! delivers a new version.

use super::task_secrets::{SecretEnv, SecretsSource};
use crate::runtime::BindMount;
use berth_model::agent::{TaskSecretName, TaskSecretsRequest, TaskSpec};
use berth_model::secret_files;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the agent asks for new versions of its tasks' file-mode secrets (a new version reaches the file
/// within this plus one server round trip).
pub const REFRESH_EVERY: Duration = Duration::from_secs(3);

const PREFIX: &str =
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed";

/// One file-mode secret of a task, where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    container: String,
    /// The secret's `name` (`berth:file=<path>`).
    name: String,
    /// The path in the container.
    path: String,
    /// The host directory mounted at the path's directory.
    host_dir: PathBuf,
    /// The host file.
    host_file: PathBuf,
}

#[derive(Default)]
struct Tracked {
    places: Vec<Place>,
    /// The last refresh failure, logged once until it changes.
    last_failure: Option<String>,
}

/// The file-mode secrets of this agent's tasks.
pub struct SecretFiles {
    /// Where the files live; `None` when the host has no tmpfs for them (tasks with file secrets fail to start).
    root: Option<PathBuf>,
    tasks: Mutex<BTreeMap<String, Tracked>>,
}

/// Whether `/dev/shm` is a tmpfs (read from `/proc/mounts`).
fn dev_shm_is_tmpfs() -> bool {
    std::fs::read_to_string("/proc/mounts")
        .is_ok_and(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some("/dev/shm") && l.contains(" tmpfs ")))
}

fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

/// A directory (and its parents) with `mode`.
fn make_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

impl SecretFiles {
    /// File-mode secrets under `root` (`None`: refused).
    pub fn new(root: Option<PathBuf>) -> Self {
        Self { root, tasks: Mutex::default() }
    }

    /// The agent's directory on `/dev/shm` (one per data dir, so agents sharing a host keep apart), or `None` when
    /// `/dev/shm` is not a tmpfs.
    pub fn default_root(data_dir: &Path) -> Option<PathBuf> {
        use std::hash::{Hash, Hasher};
        if !dev_shm_is_tmpfs() {
            return None;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf()).hash(&mut hasher);
        Some(PathBuf::from(format!("/dev/shm/berth-secret-files-{:016x}", hasher.finish())))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Tracked>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where `task`'s file-mode secrets go (empty without any, or without a root).
    fn places(&self, task: &TaskSpec) -> Vec<Place> {
        let Some(root) = &self.root else { return Vec::new() };
        let mut out = Vec::new();
        for c in &task.containers {
            let container = c.definition.name.clone().unwrap_or_default();
            let files: Vec<(&str, &str)> = c
                .definition
                .secrets
                .iter()
                .flatten()
                .filter_map(|s| secret_files::target(&s.name).map(|p| (s.name.as_str(), p)))
                .collect();
            let dirs: BTreeSet<&str> = files.iter().map(|(_, p)| secret_files::split(p).0).collect();
            let base = root.join(task_id(&task.task_arn)).join(&container);
            for (name, path) in files {
                let (dir, file) = secret_files::split(path);
                let index = dirs.iter().position(|d| *d == dir).unwrap_or_default();
                let host_dir = base.join(format!("d{index}"));
                out.push(Place {
                    container: container.clone(),
                    name: name.to_string(),
                    path: path.to_string(),
                    host_file: host_dir.join(file),
                    host_dir,
                });
            }
        }
        out
    }

    /// Whether `task` has file-mode secrets.
    pub fn wanted(task: &TaskSpec) -> bool {
        task.containers
            .iter()
            .flat_map(|c| c.definition.secrets.iter().flatten())
            .any(|s| secret_files::target(&s.name).is_some())
    }

    /// Writes `value` to `place` atomically (staging file, then rename); `Ok(true)` when the file changed.
    fn write(place: &Place, value: &str) -> std::io::Result<bool> {
        if std::fs::read(&place.host_file).is_ok_and(|old| old == value.as_bytes()) {
            return Ok(false);
        }
        let staging = place.host_dir.parent().map(|p| p.join(".staging")).unwrap_or_else(|| place.host_dir.clone());
        make_dir(&staging, 0o700)?;
        make_dir(&place.host_dir, 0o755)?;
        let temporary = staging.join(format!("{}.tmp", berth_model::ids::new_uuid()));
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o444);
            }
            let mut file = options.open(&temporary)?;
            file.write_all(value.as_bytes())?;
        }
        if let Err(error) = std::fs::rename(&temporary, &place.host_file) {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
        Ok(true)
    }

    /// Writes `task`'s file-mode secrets from `values` and tracks the task for new versions; the bind mounts of
    /// each container, by container name. `Err` is the task's stopped reason.
    pub fn prepare(&self, task: &TaskSpec, values: &SecretEnv) -> Result<BTreeMap<String, Vec<BindMount>>, String> {
        if !Self::wanted(task) {
            return Ok(BTreeMap::new());
        }
        let Some(root) = &self.root else {
            return Err(format!(
                "{PREFIX}: file-mode secrets (berth:file=...) need a tmpfs at /dev/shm on the host, which this host \
                 does not have"
            ));
        };
        make_dir(root, 0o700).map_err(|e| format!("{PREFIX}: cannot make {}: {e}", root.display()))?;
        let places = self.places(task);
        let mut binds: BTreeMap<String, Vec<BindMount>> = BTreeMap::new();
        for place in &places {
            let value = values
                .files(&place.container)
                .iter()
                .find(|(path, _)| *path == place.path)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| format!("{PREFIX}: the server answered no value for {}", place.name))?;
            Self::write(place, value)
                .map_err(|e| format!("{PREFIX}: cannot write the secret file {}: {e}", place.path))?;
            let target = secret_files::split(&place.path).0.to_string();
            let container = binds.entry(place.container.clone()).or_default();
            if !container.iter().any(|b| b.target == target) {
                container.push(BindMount { source: place.host_dir.display().to_string(), target, read_only: true });
            }
        }
        self.lock().insert(task.task_arn.clone(), Tracked { places, last_failure: None });
        Ok(binds)
    }

    /// Tracks a task whose containers already exist (adopted after a restart) for new versions.
    pub fn track(&self, task: &TaskSpec) {
        if !Self::wanted(task) || self.root.is_none() {
            return;
        }
        let places = self.places(task);
        self.lock().entry(task.task_arn.clone()).or_insert(Tracked { places, last_failure: None });
    }

    /// Stops tracking `task_arn` and removes its files (its containers are gone).
    pub fn forget(&self, task_arn: &str) {
        self.lock().remove(task_arn);
        if let Some(root) = &self.root {
            let dir = root.join(task_id(task_arn));
            if dir.exists()
                && let Err(error) = std::fs::remove_dir_all(&dir)
            {
                tracing::warn!(task = %task_arn, %error, "cannot remove a task's secret files");
            }
        }
    }

    /// Asks for every tracked task's file-mode secrets once and replaces the files whose value changed.
    pub async fn refresh(&self, source: &SecretsSource) {
        let tasks: Vec<(String, Vec<Place>)> =
            self.lock().iter().map(|(arn, t)| (arn.clone(), t.places.clone())).collect();
        for (task_arn, places) in tasks {
            let secrets = places
                .iter()
                .map(|p| TaskSecretName { container_name: p.container.clone(), name: p.name.clone() })
                .collect();
            let request = TaskSecretsRequest {
                task_arn: task_arn.clone(),
                secrets,
                registry_credentials: Vec::new(),
                refresh: true,
            };
            let failure = match source(request).await {
                Ok(response) => match response.failure {
                    Some(failure) => Some(failure),
                    None => {
                        for v in response.values {
                            let Some(place) =
                                places.iter().find(|p| p.container == v.container_name && p.name == v.name)
                            else {
                                continue;
                            };
                            match Self::write(place, &v.value) {
                                Ok(true) => tracing::info!(task = %task_arn, container = %place.container,
                                    path = %place.path, "a new secret version reached its file"),
                                Ok(false) => {}
                                Err(error) => tracing::warn!(task = %task_arn, path = %place.path, %error,
                                    "cannot replace a secret file"),
                            }
                        }
                        None
                    }
                },
                Err(error) => Some(error),
            };
            let mut tasks = self.lock();
            let Some(tracked) = tasks.get_mut(&task_arn) else { continue };
            if failure.is_some() && failure != tracked.last_failure {
                tracing::warn!(task = %task_arn, failure = ?failure, "cannot read a task's secret files again; \
                    they keep their last value");
            }
            tracked.last_failure = failure;
        }
    }

    /// Runs [`SecretFiles::refresh`] every [`REFRESH_EVERY`] for as long as the agent runs.
    pub async fn refresh_every(self: Arc<Self>, source: SecretsSource) {
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !self.lock().is_empty() {
                self.refresh(&source).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::agent::{ContainerSpec, TaskSecretValue, TaskSecretsResponse};
    use berth_model::ecs::{ContainerDefinition, Secret};

    fn task() -> TaskSpec {
        let secrets = ["berth:file=/run/secrets/db", "berth:file=/run/secrets/api", "berth:file=/etc/app/key", "ENV"];
        TaskSpec {
            task_arn: "arn:aws:ecs:us-east-1:0:task/default/abc".into(),
            containers: vec![ContainerSpec {
                container_arn: "arn:c".into(),
                definition: ContainerDefinition {
                    name: Some("app".into()),
                    secrets: Some(
                        secrets.iter().map(|n| Secret { name: (*n).into(), value_from: "/p".into() }).collect(),
                    ),
                    ..Default::default()
                },
            }],
            ..Default::default()
        }
    }

    fn answer(pairs: &[(&str, &str)]) -> TaskSecretsResponse {
        TaskSecretsResponse {
            values: pairs
                .iter()
                .map(|(n, v)| TaskSecretValue { container_name: "app".into(), name: (*n).into(), value: (*v).into() })
                .collect(),
            ..Default::default()
        }
    }

    async fn values(pairs: &[(&str, &str)]) -> SecretEnv {
        let response = answer(pairs);
        let source: SecretsSource = Arc::new(move |_| {
            let response = response.clone();
            Box::pin(async move { Ok(response) })
        });
        super::super::task_secrets::fetch(Some(&source), &task()).await.unwrap()
    }

    #[tokio::test]
    async fn files_are_written_mounted_read_only_replaced_atomically_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let files = SecretFiles::new(Some(dir.path().join("root")));
        let first = [
            ("berth:file=/run/secrets/db", "db-1"),
            ("berth:file=/run/secrets/api", "api-1"),
            ("berth:file=/etc/app/key", "key-1"),
            ("ENV", "env-1"),
        ];
        let binds = files.prepare(&task(), &values(&first).await).unwrap();
        let app = &binds["app"];
        assert_eq!(app.len(), 2, "one mount per directory: {app:?}");
        assert!(app.iter().all(|b| b.read_only));
        let run = app.iter().find(|b| b.target == "/run/secrets").unwrap();
        assert_eq!(std::fs::read_to_string(Path::new(&run.source).join("db")).unwrap(), "db-1");
        assert_eq!(std::fs::read_to_string(Path::new(&run.source).join("api")).unwrap(), "api-1");
        assert!(!Path::new(&run.source).join("ENV").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(Path::new(&run.source).join("db")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o444);
        }

        // A new version replaces the file (a new inode: renamed over), the others stay.
        let source: SecretsSource = Arc::new(|req: TaskSecretsRequest| {
            assert!(req.refresh);
            assert_eq!(req.secrets.len(), 3, "only the file-mode secrets");
            Box::pin(async move {
                Ok(answer(&[
                    ("berth:file=/run/secrets/db", "db-2"),
                    ("berth:file=/run/secrets/api", "api-1"),
                    ("berth:file=/etc/app/key", "key-1"),
                ]))
            })
        });
        files.refresh(&source).await;
        assert_eq!(std::fs::read_to_string(Path::new(&run.source).join("db")).unwrap(), "db-2");
        assert_eq!(std::fs::read_dir(&run.source).unwrap().count(), 2, "no staging file in the mounted directory");

        // A failing read keeps the last value.
        let failing: SecretsSource = Arc::new(|_| Box::pin(async { Err("connection refused".to_string()) }));
        files.refresh(&failing).await;
        assert_eq!(std::fs::read_to_string(Path::new(&run.source).join("db")).unwrap(), "db-2");

        // An adopted task finds the same places.
        let again = SecretFiles::new(Some(dir.path().join("root")));
        again.track(&task());
        assert_eq!(again.lock()["arn:aws:ecs:us-east-1:0:task/default/abc"].places, files.places(&task()));

        files.forget("arn:aws:ecs:us-east-1:0:task/default/abc");
        assert!(!Path::new(&run.source).exists());
        assert!(files.lock().is_empty());
    }

    #[tokio::test]
    async fn without_a_tmpfs_a_task_with_file_secrets_fails_and_others_run() {
        let files = SecretFiles::new(None);
        let why = files.prepare(&task(), &SecretEnv::default()).unwrap_err();
        assert!(why.starts_with("ResourceInitializationError") && why.contains("tmpfs"), "{why}");
        let plain = TaskSpec { task_arn: "arn:t".into(), ..Default::default() };
        assert!(files.prepare(&plain, &SecretEnv::default()).unwrap().is_empty());
    }
}

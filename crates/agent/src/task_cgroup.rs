//! Task-level limits: a FARGATE task's containers share one cgroup that holds the task size.
//!
//! Fargate enforces the task's `cpu` and `memory` on the task as a whole (its containers' own settings only divide
//! it). The agent creates a cgroup per task, `berth/<task id>` under the host's cgroup root, writes the limits into
//! it, and creates each container with that cgroup as its Docker `CgroupParent`, so the kernel charges every
//! container of the task against one limit:
//! - cgroup v1 (Docker's `cgroupfs` driver): `memory/berth/<id>/memory.limit_in_bytes`, and
//!   `cpu/berth/<id>/cpu.cfs_quota_us` over `cpu.cfs_period_us` (100 ms);
//! - cgroup v2: `berth/<id>/memory.max` and `berth/<id>/cpu.max` (`quota period`), with the `cpu` and `memory`
//!   controllers enabled for the children of the root and of `berth`.
//!
//! CPU units become a CFS quota: 1024 units are one CPU (`units × period / 1024`). Docker's `systemd` cgroup driver
//! wants a slice name instead of a path: there the agent does not set a parent, and the containers keep only their
//! own limits (docs/COMPATIBILITY.md says so). The directories are removed with the task's containers.

use std::io;
use std::path::{Path, PathBuf};

/// The CFS period the quota is written against, in microseconds.
pub const CFS_PERIOD_US: u64 = 100_000;

/// The cgroup directory (relative to a hierarchy's root) holding a task's containers.
pub fn relative_path(task_id: &str) -> String {
    format!("berth/{task_id}")
}

/// The `CgroupParent` Docker's `cgroupfs` driver takes for a task.
pub fn parent(task_id: &str) -> String {
    format!("/{}", relative_path(task_id))
}

/// A task's limits as the kernel takes them: memory in bytes and the CFS quota in microseconds per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `memory.max` / `memory.limit_in_bytes`.
    pub memory_bytes: u64,
    /// The CFS quota per [`CFS_PERIOD_US`].
    pub cpu_quota_us: u64,
}

impl Limits {
    /// The limits of a task of `cpu_units` CPU units and `memory_mib` MiB.
    pub fn of(cpu_units: u32, memory_mib: u32) -> Self {
        Self {
            memory_bytes: u64::from(memory_mib) * 1024 * 1024,
            cpu_quota_us: (u64::from(cpu_units) * CFS_PERIOD_US / 1024).max(1000),
        }
    }
}

/// The host's cgroup layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2: one hierarchy at this root.
    Unified(PathBuf),
    /// cgroup v1: one hierarchy per controller under this root (`memory/`, `cpu/`).
    Legacy(PathBuf),
}

impl Layout {
    /// The layout under `root` (`/sys/fs/cgroup` on a host): v2 when the root lists its controllers.
    pub fn detect(root: &Path) -> Self {
        if root.join("cgroup.controllers").exists() {
            Layout::Unified(root.to_path_buf())
        } else {
            Layout::Legacy(root.to_path_buf())
        }
    }

    /// Creates the task's cgroup and writes its limits.
    pub fn prepare(&self, task_id: &str, limits: Limits) -> io::Result<()> {
        let rel = relative_path(task_id);
        match self {
            Layout::Legacy(root) => {
                let memory = root.join("memory").join(&rel);
                std::fs::create_dir_all(&memory)?;
                std::fs::write(memory.join("memory.limit_in_bytes"), limits.memory_bytes.to_string())?;
                let cpu = root.join("cpu").join(&rel);
                std::fs::create_dir_all(&cpu)?;
                std::fs::write(cpu.join("cpu.cfs_period_us"), CFS_PERIOD_US.to_string())?;
                std::fs::write(cpu.join("cpu.cfs_quota_us"), limits.cpu_quota_us.to_string())?;
            }
            Layout::Unified(root) => {
                enable_controllers(root)?;
                let berth = root.join("berth");
                std::fs::create_dir_all(&berth)?;
                enable_controllers(&berth)?;
                let task = root.join(&rel);
                std::fs::create_dir_all(&task)?;
                std::fs::write(task.join("memory.max"), limits.memory_bytes.to_string())?;
                std::fs::write(task.join("cpu.max"), format!("{} {CFS_PERIOD_US}", limits.cpu_quota_us))?;
            }
        }
        Ok(())
    }

    /// Removes the task's cgroup (once its containers are gone; a missing or busy one is left alone).
    pub fn remove(&self, task_id: &str) {
        let rel = relative_path(task_id);
        let dirs = match self {
            Layout::Legacy(root) => vec![root.join("memory").join(&rel), root.join("cpu").join(&rel)],
            Layout::Unified(root) => vec![root.join(&rel)],
        };
        for dir in dirs {
            if let Err(error) = std::fs::remove_dir(&dir)
                && error.kind() != io::ErrorKind::NotFound
            {
                tracing::debug!(dir = %dir.display(), %error, "a task's cgroup was not removed");
            }
        }
    }
}

/// Enables the `cpu` and `memory` controllers for the children of a v2 cgroup.
fn enable_controllers(dir: &Path) -> io::Result<()> {
    let control = dir.join("cgroup.subtree_control");
    let current = std::fs::read_to_string(&control).unwrap_or_default();
    for controller in ["cpu", "memory"] {
        if !current.split_whitespace().any(|c| c == controller) {
            std::fs::write(&control, format!("+{controller}"))?;
        }
    }
    Ok(())
}

/// Whether a task gets a task-level cgroup: FARGATE tasks with a task size.
pub fn wanted(task: &berth_model::agent::TaskSpec) -> bool {
    task.launch_type.as_deref() == Some("FARGATE") && task.cpu.is_some() && task.memory.is_some()
}

/// The task id (the last part of its ARN).
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or_default()
}

/// Creates a task's cgroup with its limits and returns the `CgroupParent` its containers get; `None` (logged)
/// when it cannot be written, and the containers keep only their own limits.
pub fn prepare(layout: &Layout, task: &berth_model::agent::TaskSpec) -> Option<String> {
    let cpu = u32::try_from(task.cpu?).ok()?;
    let memory = u32::try_from(task.memory?).ok()?;
    let id = task_id(&task.task_arn);
    match layout.prepare(id, Limits::of(cpu, memory)) {
        Ok(()) => Some(parent(id)),
        Err(error) => {
            tracing::warn!(task = %task.task_arn, %error, "cannot write the task's cgroup; its containers keep only their own limits");
            None
        }
    }
}

/// The host's layout at `/sys/fs/cgroup`.
pub fn host() -> Layout {
    Layout::detect(Path::new("/sys/fs/cgroup"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_task_size() {
        assert_eq!(Limits::of(512, 1024), Limits { memory_bytes: 1 << 30, cpu_quota_us: 50_000 });
        assert_eq!(Limits::of(2048, 512).cpu_quota_us, 200_000);
        assert_eq!(Limits::of(0, 512).cpu_quota_us, 1000, "the kernel's minimum quota");
    }

    #[test]
    fn v1_and_v2_files_are_written_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = Layout::detect(dir.path());
        assert_eq!(legacy, Layout::Legacy(dir.path().to_path_buf()));
        legacy.prepare("t1", Limits::of(256, 512)).unwrap();
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
        assert_eq!(read("memory/berth/t1/memory.limit_in_bytes"), (512u64 << 20).to_string());
        assert_eq!(read("cpu/berth/t1/cpu.cfs_quota_us"), "25000");
        assert_eq!(read("cpu/berth/t1/cpu.cfs_period_us"), "100000");

        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(v2.path().join("cgroup.controllers"), "cpu memory").unwrap();
        let unified = Layout::detect(v2.path());
        assert!(matches!(unified, Layout::Unified(_)));
        unified.prepare("t2", Limits::of(1024, 2048)).unwrap();
        let read = |p: &str| std::fs::read_to_string(v2.path().join(p)).unwrap();
        assert_eq!(read("berth/t2/memory.max"), (2048u64 << 20).to_string());
        assert_eq!(read("berth/t2/cpu.max"), "100000 100000");
        // A plain directory holds files, so removal leaves it; a real cgroup directory has none to remove.
        unified.remove("t2");
    }
}

//! Ephemeral storage on an agent that serves Fargate: how much it offers FARGATE tasks, and whether Docker can hold
//! each task's containers to the task's size.
//!
//! - **Capacity.** The operator's `--ephemeral-storage-gib`, else the space free to unprivileged users on the
//!   filesystem of Docker's data root (`DockerRootDir`), measured once when the agent starts (so a re-registration
//!   does not count the running tasks' own writes a second time). The control plane reserves each FARGATE task's
//!   size from it (docs/COMPATIBILITY.md §44).
//! - **Enforcement.** Docker caps a container's writable layer with `StorageOpt size=` only on some storage
//!   drivers (overlay2 on xfs mounted with `pquota`, btrfs, zfs, devicemapper). Rather than trust a list,
//!   [`probe_quota`] asks the engine itself, whatever its driver: it creates (never starts) a container of the pause
//!   image with the smallest size a FARGATE task has (20 GiB) and removes it. Where that works the agent advertises
//!   [`QUOTA_ATTRIBUTE`] (its value: the driver) and gives every container of a FARGATE task the task's size
//!   ([`container_size_gib`]); elsewhere it advertises nothing and FARGATE tasks' disk is accounted, not enforced.

use crate::runtime::{ContainerRuntime, ContainerSpec, NetworkMode, RuntimeInfo};
use berth_model::agent::TaskSpec;
use std::path::Path;

/// The attribute an agent advertises when Docker enforces FARGATE tasks' ephemeral storage; its value is the
/// storage driver. Only the agent sets it (a `--attribute` of this name is dropped, as for every
/// `berth.capability.` attribute).
pub const QUOTA_ATTRIBUTE: &str = "berth.capability.storage-quota";

/// The size the quota probe asks for, GiB: Fargate's default, the smallest a FARGATE task has (devicemapper refuses
/// sizes below its base device size, 10 GB by default).
const PROBE_SIZE_GIB: u32 = 20;

const GIB: u64 = 1 << 30;

/// Why the capacity cannot be measured.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot measure the free space of Docker's data root {path} ({message}); give the agent --ephemeral-storage-gib"
)]
pub struct MeasureError {
    /// Docker's data root, as the engine names it.
    pub path: String,
    /// What failed.
    pub message: String,
}

/// The ephemeral storage (GiB) the agent offers: `configured` when given, else the free space of `root` (Docker's
/// data root) in whole GiB.
pub fn capacity_gib(configured: Option<i64>, root: &str) -> Result<i64, MeasureError> {
    if let Some(gib) = configured {
        return Ok(gib);
    }
    let fail = |message: String| MeasureError { path: root.to_string(), message };
    if root.is_empty() {
        return Err(fail("the engine does not say where it is".into()));
    }
    let stats = rustix::fs::statvfs(Path::new(root)).map_err(|e| fail(e.to_string()))?;
    Ok(i64::try_from(stats.f_bavail.saturating_mul(stats.f_frsize) / GIB).unwrap_or(i64::MAX))
}

/// Whether the engine accepts `StorageOpt size=` on a container: a probe container of the pause image is created
/// with the smallest Fargate size, then removed. `Err` carries the engine's refusal (or why no probe could be made),
/// for the log.
pub async fn probe_quota<R: ContainerRuntime>(runtime: &R, info: &RuntimeInfo) -> Result<(), String> {
    let image = crate::pause::ensure_image(runtime, &info.arch).await.map_err(|e| e.to_string())?;
    let spec = ContainerSpec {
        name: format!("berth-storage-probe-{}", std::process::id()),
        network_mode: NetworkMode::None,
        storage_size_gib: Some(PROBE_SIZE_GIB),
        ..ContainerSpec::new("", image)
    };
    // A probe left by an agent killed mid-probe has the same name when the pid repeats; it goes first.
    let _ = runtime.remove_container(&spec.name).await;
    let id = runtime.create_container(&spec).await.map_err(|e| e.to_string())?;
    if let Err(error) = runtime.remove_container(&id).await {
        tracing::warn!(%error, container = %id, "cannot remove the storage quota probe container");
    }
    Ok(())
}

/// Detects enforcement at agent start: the attribute value to advertise (the driver), or `None` (logged with the
/// engine's reason) where Docker cannot cap a container's writable layer.
pub async fn detect<R: ContainerRuntime>(runtime: &R, info: &RuntimeInfo) -> Option<String> {
    let backing = info.backing_filesystem.as_deref().unwrap_or("unknown");
    match probe_quota(runtime, info).await {
        Ok(()) => {
            tracing::info!(driver = %info.storage_driver, backing, "FARGATE tasks' ephemeral storage is enforced (StorageOpt size)");
            Some(info.storage_driver.clone())
        }
        Err(reason) => {
            tracing::warn!(
                driver = %info.storage_driver,
                backing,
                %reason,
                "Docker's storage driver cannot cap a container's size: FARGATE tasks' ephemeral storage is accounted in placement but not enforced"
            );
            None
        }
    }
}

/// The writable-layer cap of each container of `task` where enforcement is on: a FARGATE task's ephemeral storage
/// (20 GiB unless its definition asks more) for every one of its containers, since on Fargate the task's containers
/// share its storage and any one of them may fill it. `None` for other tasks.
pub fn container_size_gib(task: &TaskSpec) -> Option<u32> {
    if task.launch_type.as_deref() != Some("FARGATE") {
        return None;
    }
    let gib = task.ephemeral_storage_gib.unwrap_or(crate::metadata::FARGATE_DEFAULT_EPHEMERAL_GIB);
    u32::try_from(gib).ok().filter(|g| *g > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RuntimeError;
    use crate::runtime::fake::{FakeRuntime, Op};

    #[test]
    fn the_flag_wins_and_the_data_root_is_measured_otherwise() {
        assert_eq!(capacity_gib(Some(250), "/nonexistent").unwrap(), 250);
        let dir = tempfile::tempdir().unwrap();
        let measured = capacity_gib(None, &dir.path().display().to_string()).unwrap();
        let stats = rustix::fs::statvfs(dir.path()).unwrap();
        assert_eq!(measured as u64, stats.f_bavail * stats.f_frsize / GIB);
        let err = capacity_gib(None, "/nonexistent/berth-docker-root").unwrap_err().to_string();
        assert!(err.contains("--ephemeral-storage-gib") && err.contains("/nonexistent/berth-docker-root"), "{err}");
        assert!(capacity_gib(None, "").is_err());
    }

    #[test]
    fn only_fargate_tasks_get_a_size_and_it_is_the_tasks() {
        let fargate = TaskSpec { launch_type: Some("FARGATE".into()), ..Default::default() };
        assert_eq!(container_size_gib(&fargate), Some(20));
        let bigger = TaskSpec { ephemeral_storage_gib: Some(120), ..fargate };
        assert_eq!(container_size_gib(&bigger), Some(120));
        let ec2 = TaskSpec { launch_type: Some("EC2".into()), ephemeral_storage_gib: Some(50), ..Default::default() };
        assert_eq!(container_size_gib(&ec2), None);
        assert_eq!(container_size_gib(&TaskSpec::default()), None);
    }

    #[tokio::test]
    async fn the_probe_creates_a_sized_container_and_removes_it() {
        let runtime = FakeRuntime::new();
        let info = RuntimeInfo { arch: "x86_64".into(), storage_driver: "overlay2".into(), ..Default::default() };
        assert_eq!(detect(&runtime, &info).await.as_deref(), Some("overlay2"));
        assert!(runtime.container_ids().is_empty(), "the probe is removed");
        let created = runtime.calls().into_iter().any(
            |c| matches!(c, crate::runtime::fake::Call::Create { name } if name.starts_with("berth-storage-probe-")),
        );
        assert!(created);
    }

    #[tokio::test]
    async fn an_engine_that_refuses_the_size_means_no_enforcement() {
        let runtime = FakeRuntime::new();
        let info = RuntimeInfo { arch: "x86_64".into(), storage_driver: "fuse-overlayfs".into(), ..Default::default() };
        runtime.fail_next(
            Op::Create,
            RuntimeError::Invalid {
                call: "create_container",
                target: "probe".into(),
                message: "--storage-opt is not supported".into(),
            },
        );
        assert_eq!(detect(&runtime, &info).await, None);
        assert!(runtime.container_ids().is_empty());
    }
}

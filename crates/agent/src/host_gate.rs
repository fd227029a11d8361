//! The agent's own check before it creates a container: what the task reaches on the host must be allowed by this
//! agent's [`HostAccess`], whatever the control plane placed here (defence in depth; the control plane places a
//! task only on an agent that advertises what it needs).
//!
//! Host paths are checked as written and, when they exist, with symbolic links resolved, so a link under an
//! allowed prefix cannot lead to `/` or the Docker socket.

use berth_model::agent::TaskSpec;
use berth_model::ecs::ContainerDefinition;
use berth_model::host_access::{HOST_PATH, HostAccess, HostNeeds, prefixes_allow};
use std::path::Path;

/// Why this agent refuses to create `containers` of `task`, or `None` when it may.
pub fn refusal(access: &HostAccess, task: &TaskSpec, containers: &[&ContainerDefinition]) -> Option<String> {
    let owned: Vec<ContainerDefinition> = containers.iter().map(|c| (*c).clone()).collect();
    let needs = HostNeeds::of(Some(task.network_mode), &owned, &task.volumes);
    if let Some(why) = access.refusal(&needs) {
        return Some(why);
    }
    // The allow-list with its own links resolved (`/var/run` is often a link to `/run`).
    let mut allowed = access.host_paths.clone();
    allowed.extend(access.host_paths.iter().filter_map(|p| canonical(p)));
    needs.host_paths.iter().find_map(|path| {
        let real = canonical(path)?;
        (!prefixes_allow(&allowed, &real)).then(|| {
            format!(
                "the host path {path} (a link to {real}) is not allowed on this container instance (it does not \
                 advertise {HOST_PATH} for it)"
            )
        })
    })
}

fn canonical(path: &str) -> Option<String> {
    std::fs::canonicalize(Path::new(path)).ok().and_then(|p| p.to_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::ecs::{HostVolumeProperties, MountPoint, NetworkMode, Volume};

    fn task(path: &str) -> (TaskSpec, ContainerDefinition) {
        let task = TaskSpec {
            network_mode: NetworkMode::Bridge,
            volumes: vec![Volume {
                name: Some("v".into()),
                host: Some(HostVolumeProperties { source_path: Some(path.into()) }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let c = ContainerDefinition {
            name: Some("app".into()),
            mount_points: Some(vec![MountPoint {
                source_volume: Some("v".into()),
                container_path: Some("/v".into()),
                read_only: None,
            }]),
            ..Default::default()
        };
        (task, c)
    }

    #[test]
    fn refuses_what_is_not_allowed_and_links_out_of_a_prefix() {
        let dir = std::env::temp_dir().join(format!("berth-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("root");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/", &link).unwrap();
        let prefix = dir.to_str().unwrap().to_string();
        let access = HostAccess { host_paths: vec![prefix.clone()], ..Default::default() };
        let (t, c) = task(&format!("{prefix}/plain"));
        assert_eq!(refusal(&access, &t, &[&c]), None);
        let (t, c) = task(link.to_str().unwrap());
        assert!(refusal(&access, &t, &[&c]).is_some_and(|r| r.contains("a link to /")));
        assert!(refusal(&HostAccess::default(), &t, &[&c]).is_some_and(|r| r.contains(HOST_PATH)));
        let privileged = ContainerDefinition { privileged: Some(true), ..Default::default() };
        assert!(refusal(&access, &TaskSpec::default(), &[&privileged]).is_some());
        assert_eq!(refusal(&HostAccess::everything(), &TaskSpec::default(), &[&privileged]), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! CapacityProviderReservation from the cache: for every (cluster, capacity provider with managed scaling ENABLED)
//! pair, M (the instances the provider's tasks need) and N (the instances of its node group in the cluster).

use super::{Size, instances_needed, reservation};
use crate::cache::State;
use crate::records::{CapacityProviderRecord, ProviderStatus, TaskRecord};
use crate::status::{InstanceStatus, TaskStatus};

/// One provider's reservation in one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderReservation {
    /// The cluster's name.
    pub cluster: String,
    /// The capacity provider's name.
    pub provider: String,
    /// M: the instances its tasks need.
    pub needed: u64,
    /// N: the instances of its node group registered in the cluster (ACTIVE or DRAINING).
    pub running: u64,
    /// The instances without non-daemon tasks (candidates for scale-in).
    pub idle: u64,
    /// CapacityProviderReservation, percent.
    pub value: f64,
}

/// Whether `task` waits for capacity: not placed on any instance yet and not stopped.
pub fn is_waiting(task: &TaskRecord) -> bool {
    task.instance_id.is_empty() && task.last_status != TaskStatus::Stopped
}

/// Whether `task` is a daemon task: a DAEMON service's, or an ECS Managed Daemon's (group `daemon:NAME`). Those do
/// not keep an instance from scaling in, as on ECS.
pub(crate) fn is_daemon_task(state: &State, task: &TaskRecord) -> bool {
    let Some(group) = task.group.as_deref() else { return false };
    if group.starts_with("daemon:") {
        return true;
    }
    let Some(service) = group.strip_prefix("service:") else { return false };
    state.services.get(&(task.cluster.clone(), service.to_string())).is_some_and(|v| v.record.is_daemon())
}

/// The capacity providers with managed scaling ENABLED, by name.
fn managed_providers(state: &State) -> impl Iterator<Item = &CapacityProviderRecord> {
    state
        .capacity_providers
        .values()
        .map(|v| v.record.as_ref())
        .filter(|p| p.status == ProviderStatus::Active && p.managed_scaling.enabled)
}

/// The reservation of every managed provider in every ACTIVE cluster that names it.
pub fn reservations(state: &State) -> Vec<ProviderReservation> {
    let mut out = Vec::new();
    for provider in managed_providers(state) {
        for cluster in state.clusters.values().map(|v| v.record.as_ref()) {
            if cluster.status != crate::status::ClusterStatus::Active
                || !cluster.capacity_providers.contains(&provider.name)
            {
                continue;
            }
            out.push(of_provider(state, &cluster.name, provider));
        }
    }
    out
}

/// One provider's reservation in `cluster`.
pub fn of_provider(state: &State, cluster: &str, provider: &CapacityProviderRecord) -> ProviderReservation {
    let group = provider.node_group();
    let mut running = 0;
    let mut busy = 0;
    let mut size: Option<Size> = None;
    for instance in state.instances.values().map(|v| v.record.as_ref()) {
        if instance.cluster != cluster || instance.node_group.as_deref() != Some(group) {
            continue;
        }
        let offered = Size { cpu: instance.offered.cpu, memory: instance.offered.memory_mib };
        size = Some(match size {
            Some(s) if (s.cpu, s.memory) >= (offered.cpu, offered.memory) => s,
            _ => offered,
        });
        if instance.status == InstanceStatus::Inactive {
            continue;
        }
        running += 1;
        let has_tasks = state.tasks_by_instance.get(&instance.id).is_some_and(|keys| {
            keys.iter().filter_map(|k| state.tasks.get(k)).any(|t| {
                !t.record.released && t.record.last_status != TaskStatus::Stopped && !is_daemon_task(state, &t.record)
            })
        });
        if has_tasks {
            busy += 1;
        }
    }
    let waiting: Vec<Size> = state
        .tasks
        .values()
        .map(|v| v.record.as_ref())
        .filter(|t| t.cluster == cluster && is_waiting(t))
        .filter(|t| t.capacity_provider_name.as_deref() == Some(provider.name.as_str()))
        .map(|t| Size { cpu: t.reservation.cpu, memory: t.reservation.memory })
        .collect();
    // With no instance of the group ever seen, the size of a fresh one is unknown: the waiting tasks count as one.
    let needed = match size {
        Some(instance) => instances_needed(busy, &waiting, instance),
        None => busy + u64::from(!waiting.is_empty()),
    };
    ProviderReservation {
        cluster: cluster.to_string(),
        provider: provider.name.clone(),
        needed,
        running,
        idle: running - busy,
        value: reservation(needed, running),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{InstanceRecord, ManagedScalingRecord, Reservation, WaitingPlacement, keys};
    use berth_model::agent::AgentResources;
    use berth_store::{EventKind, KeyValue};

    fn put(state: &mut State, key: String, value: Vec<u8>) {
        let revision = state.revision + 1;
        state.apply(EventKind::Put, &KeyValue { key, value, create_revision: revision, mod_revision: revision });
    }

    fn provider() -> CapacityProviderRecord {
        CapacityProviderRecord {
            name: "cp".into(),
            arn: "arn:aws:ecs:us-east-1:000000000000:capacity-provider/cp".into(),
            status: ProviderStatus::Active,
            auto_scaling_group_arn: "grp".into(),
            managed_scaling: ManagedScalingRecord { enabled: true, ..Default::default() },
            managed_termination_protection: false,
            managed_draining: true,
            update_status: None,
            update_status_reason: None,
            tags: Vec::new(),
            created_at: 0.0,
        }
    }

    fn instance(state: &mut State, id: &str, group: &str, status: InstanceStatus) {
        let record = InstanceRecord {
            arn: format!("arn:aws:ecs:us-east-1:000000000000:container-instance/c/{id}"),
            cluster: "c".into(),
            id: id.into(),
            status,
            offered: AgentResources { cpu: 1024, memory_mib: 1024, ..Default::default() },
            node_group: Some(group.into()),
            ..Default::default()
        };
        put(state, keys::instance("c", id), crate::stored::encode(&record).unwrap());
    }

    fn task(state: &mut State, id: &str, instance: &str, memory: i64, status: TaskStatus) {
        let record = TaskRecord {
            arn: format!("arn:aws:ecs:us-east-1:000000000000:task/c/{id}"),
            cluster: "c".into(),
            instance_id: instance.into(),
            last_status: status,
            capacity_provider_name: Some("cp".into()),
            reservation: Reservation { cpu: 0, memory, ..Default::default() },
            waiting: instance.is_empty().then(WaitingPlacement::default),
            ..Default::default()
        };
        put(state, keys::task("c", id), crate::stored::encode(&record).unwrap());
    }

    #[test]
    fn m_counts_busy_instances_and_packs_waiting_tasks() {
        let mut state = State::default();
        let r = of_provider(&state, "c", &provider());
        assert_eq!((r.needed, r.running, r.value), (0, 0, 100.0));
        // Waiting tasks and no instance ever seen: one instance needed, 200.
        task(&mut state, "w1", "", 600, TaskStatus::Provisioning);
        task(&mut state, "w2", "", 600, TaskStatus::Provisioning);
        let r = of_provider(&state, "c", &provider());
        assert_eq!((r.needed, r.running, r.value), (1, 0, 200.0));
        // Two instances of the group (one busy), one of another group, one deregistered; 600 MiB tasks on 1024 MiB
        // instances need one fresh instance each.
        instance(&mut state, "i1", "grp", InstanceStatus::Active);
        instance(&mut state, "i2", "grp", InstanceStatus::Draining);
        instance(&mut state, "i3", "other", InstanceStatus::Active);
        instance(&mut state, "i4", "grp", InstanceStatus::Inactive);
        task(&mut state, "t1", "i1", 100, TaskStatus::Running);
        task(&mut state, "t2", "i2", 100, TaskStatus::Stopped);
        let r = of_provider(&state, "c", &provider());
        assert_eq!((r.needed, r.running, r.idle), (3, 2, 1));
        assert_eq!(r.value, 150.0);
        // A stopped waiting task no longer counts.
        task(&mut state, "w2", "", 600, TaskStatus::Stopped);
        assert_eq!(of_provider(&state, "c", &provider()).needed, 2);
    }
}

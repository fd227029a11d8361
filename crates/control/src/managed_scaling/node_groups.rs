//! Managed scaling's hands: on each look, every managed capacity provider whose node group has a node provider is
//! scaled by [`scaler::decide`]: hosts are asked for when its tasks do not fit, and idle hosts are drained, their
//! remaining (daemon) tasks stopped, then removed by the node provider and deregistered, when the reservation has
//! stayed under the target. Only hosts without other tasks are ever chosen (managed termination protection's rule,
//! which Berth applies to every provider), and a host that gets a task while it drains is put back ACTIVE.

use super::nodes::{NodeLaunch, NodeProvider, NodeProviders, NodeRemoval};
use super::reservation::{ProviderReservation, is_daemon_task, reservations};
use super::scaler::{Decision, Launch, Track, decide};
use crate::cache::State;
use crate::records::InstanceRecord;
use crate::status::{InstanceStatus, TaskStatus};
use crate::{Control, Result};
use berth_model::ecs::{
    ContainerInstanceStatus, DeregisterContainerInstanceRequest, StopTaskRequest, UpdateContainerInstancesStateRequest,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The stop reason of daemon tasks on a host that scales in.
pub const SCALE_IN_STOP_REASON: &str = "Container instance is being removed by managed scaling (scale-in).";

/// The scaler's memory, by (cluster, capacity provider).
pub type Tracks = HashMap<(String, String), Track>;

/// One thing to do after the look (the cache lock is not held across calls).
pub(super) enum Work {
    Launch(Arc<dyn NodeProvider>, NodeLaunch),
    SetStatus { cluster: String, instance: String, status: ContainerInstanceStatus },
    StopTasks { cluster: String, tasks: Vec<String> },
    Remove(Arc<dyn NodeProvider>, NodeRemoval),
}

/// Where a host being removed stands.
pub(super) enum Removal {
    /// Gone (deregistered or unknown): forget it.
    Gone,
    /// It got a task of its own while draining: keep it.
    Busy,
    /// Daemon tasks still run there: stop these (none: their stops are under way).
    Daemons(Vec<String>),
    /// Nothing runs there: remove it.
    Empty(Box<InstanceRecord>),
}

impl Control {
    /// Sets the node providers managed scaling drives (once; later calls are ignored).
    pub fn set_node_providers(&self, providers: NodeProviders) {
        let _ = self.node_providers.set(providers);
    }

    /// One look of the scaler: decides for every managed provider with a node provider, then acts. Errors of one
    /// provider are logged and do not stop the others.
    pub async fn scale_node_groups(&self) -> Result<()> {
        let Some(providers) = self.node_providers.get() else { return Ok(()) };
        let now = self.now();
        let scale_in_after = self.config.scale_in_after.as_secs_f64();
        let work = {
            let state = self.cache.read();
            let mut tracks = self.scaling_tracks.lock().unwrap_or_else(|p| p.into_inner());
            let mut work = Vec::new();
            for point in reservations(&state) {
                let Some(record) = state.capacity_providers.get(&point.provider).map(|v| v.record.clone()) else {
                    continue;
                };
                let group = record.node_group().to_string();
                let Some(provider) = providers.get(&group) else { continue };
                let track = tracks.entry((point.cluster.clone(), point.provider.clone())).or_default();
                advance_removals(&state, &point, &group, provider, track, &mut work);
                let registered = |at: f64| registered_since(&state, &point.cluster, &group, at);
                match decide(&point, &record.managed_scaling, track, registered, now, scale_in_after) {
                    Decision::Launch(count) => {
                        let launch = NodeLaunch { cluster: point.cluster.clone(), group: group.clone(), count };
                        work.push(Work::Launch(provider.clone(), launch));
                    }
                    Decision::ScaleIn(count) => {
                        for instance in idle_instances(&state, &point.cluster, &group, provider.as_ref(), track)
                            .into_iter()
                            .take(usize::try_from(count).unwrap_or(usize::MAX))
                        {
                            tracing::info!(cluster = %point.cluster, provider = %point.provider,
                                instance = %instance.id, "managed scaling: draining an idle instance to scale in");
                            track.removing.insert(instance.id.clone());
                            work.push(Work::SetStatus {
                                cluster: point.cluster.clone(),
                                instance: instance.arn.clone(),
                                status: ContainerInstanceStatus::Draining,
                            });
                        }
                    }
                    Decision::Wait => {}
                }
            }
            work
        };
        for item in work {
            self.act(item, now).await;
        }
        Ok(())
    }

    pub(super) async fn act(&self, work: Work, now: f64) {
        match work {
            Work::Launch(provider, launch) => {
                let outcome = provider.launch(launch.clone()).await;
                let started = match outcome {
                    Ok(started) => started,
                    Err(error) => {
                        tracing::warn!(%error, cluster = %launch.cluster, group = %launch.group,
                            "managed scaling: the node provider could not add hosts");
                        0
                    }
                };
                if started < launch.count {
                    tracing::warn!(cluster = %launch.cluster, group = %launch.group, asked = launch.count, started,
                        provider = %provider.describe(), "managed scaling: the node provider is at its limit");
                }
                if started > 0 {
                    tracing::info!(cluster = %launch.cluster, group = %launch.group, started,
                        "managed scaling: scaling out");
                    self.remember_launch(&launch, Launch { at: now, count: started });
                }
            }
            Work::SetStatus { cluster, instance, status } => {
                let req = UpdateContainerInstancesStateRequest {
                    cluster: Some(cluster),
                    container_instances: vec![instance.clone()],
                    status,
                };
                if let Err(error) = self.update_container_instances_state(req).await {
                    tracing::warn!(%error, %instance, "managed scaling: cannot change the instance's status");
                }
            }
            Work::StopTasks { cluster, tasks } => {
                for task in tasks {
                    let req = StopTaskRequest {
                        cluster: Some(cluster.clone()),
                        task: task.clone(),
                        reason: Some(SCALE_IN_STOP_REASON.into()),
                    };
                    if let Err(error) = self.stop_task(req).await {
                        tracing::warn!(%error, %task, "managed scaling: cannot stop a daemon task to scale in");
                    }
                }
            }
            Work::Remove(provider, removal) => {
                if let Err(error) = provider.remove(removal.clone()).await {
                    tracing::warn!(%error, instance = %removal.instance_arn,
                        "managed scaling: the node provider could not remove the host; trying again");
                    return;
                }
                let req = DeregisterContainerInstanceRequest {
                    cluster: Some(removal.cluster.clone()),
                    container_instance: removal.instance_arn.clone(),
                    force: Some(true),
                };
                match self.deregister_container_instance(req).await {
                    Ok(_) => tracing::info!(instance = %removal.instance_arn, "managed scaling: host removed"),
                    Err(error) => tracing::warn!(%error, instance = %removal.instance_arn,
                        "managed scaling: the host is gone but its instance could not be deregistered"),
                }
            }
        }
    }

    pub(super) fn remember_launch(&self, launch: &NodeLaunch, record: Launch) {
        let state = self.cache.read();
        let mut tracks = self.scaling_tracks.lock().unwrap_or_else(|p| p.into_inner());
        for ((cluster, provider), track) in tracks.iter_mut() {
            let same_group =
                state.capacity_providers.get(provider).is_some_and(|p| p.record.node_group() == launch.group);
            if cluster == &launch.cluster && same_group {
                track.launches.push(record);
            }
        }
    }
}

/// Moves each host being removed one step on: stop its daemon tasks, then remove it; a host that got a task of its
/// own goes back to ACTIVE.
fn advance_removals(
    state: &State,
    point: &ProviderReservation,
    group: &str,
    provider: &Arc<dyn NodeProvider>,
    track: &mut Track,
    work: &mut Vec<Work>,
) {
    let ids: Vec<String> = track.removing.iter().cloned().collect();
    for id in ids {
        match removal_state(state, &point.cluster, &id) {
            Removal::Gone => {
                track.removing.remove(&id);
            }
            Removal::Busy => {
                track.removing.remove(&id);
                if let Some(v) = state.instances.get(&(point.cluster.clone(), id.clone())) {
                    tracing::info!(instance = %id, "managed scaling: a task came to the draining host; keeping it");
                    work.push(Work::SetStatus {
                        cluster: point.cluster.clone(),
                        instance: v.record.arn.clone(),
                        status: ContainerInstanceStatus::Active,
                    });
                }
            }
            Removal::Daemons(tasks) if tasks.is_empty() => {} // their stops are under way
            Removal::Daemons(tasks) => work.push(Work::StopTasks { cluster: point.cluster.clone(), tasks }),
            Removal::Empty(instance) => {
                track.removing.remove(&id);
                let removal = NodeRemoval {
                    cluster: point.cluster.clone(),
                    group: group.to_string(),
                    instance_arn: instance.arn.clone(),
                    ec2_instance_id: instance.ec2_instance_id.clone().unwrap_or_default(),
                };
                work.push(Work::Remove(provider.clone(), removal));
            }
        }
    }
}

pub(super) fn removal_state(state: &State, cluster: &str, id: &str) -> Removal {
    let Some(v) = state.instances.get(&(cluster.to_string(), id.to_string())) else { return Removal::Gone };
    if v.record.status == InstanceStatus::Inactive {
        return Removal::Gone;
    }
    let mut daemons = Vec::new();
    let mut stopping = false;
    for task in state.tasks_on_instance(id).map(|t| t.record.as_ref()) {
        if task.last_status == TaskStatus::Stopped || task.released {
            continue;
        }
        if !is_daemon_task(state, task) {
            return Removal::Busy;
        }
        if task.desired_status == crate::status::DesiredStatus::Stopped {
            stopping = true;
        } else {
            daemons.push(task.arn.clone());
        }
    }
    if daemons.is_empty() && !stopping {
        Removal::Empty(Box::new((*v.record).clone()))
    } else {
        Removal::Daemons(daemons)
    }
}

/// The provider's instances in `cluster` registered at or after `at` (they answer launches made then).
fn registered_since(state: &State, cluster: &str, group: &str, at: f64) -> u64 {
    let count = state
        .instances
        .values()
        .map(|v| v.record.as_ref())
        .filter(|i| i.cluster == cluster && i.node_group.as_deref() == Some(group) && i.registered_at >= at)
        .count();
    u64::try_from(count).unwrap_or(u64::MAX)
}

/// The ACTIVE instances of the group that run no task but daemons, that the node provider can remove and that are
/// not already leaving: those of the availability zone with the most instances of the group first (an Auto Scaling
/// group keeps its zones balanced), newest first within a zone.
fn idle_instances(
    state: &State,
    cluster: &str,
    group: &str,
    provider: &dyn NodeProvider,
    track: &Track,
) -> Vec<InstanceRecord> {
    let members: Vec<&InstanceRecord> = state
        .instances
        .values()
        .map(|v| v.record.as_ref())
        .filter(|i| i.cluster == cluster && i.node_group.as_deref() == Some(group))
        .filter(|i| i.status != InstanceStatus::Inactive)
        .collect();
    let mut per_zone: HashMap<&str, usize> = HashMap::new();
    for i in &members {
        *per_zone.entry(zone(i)).or_default() += 1;
    }
    let mut idle: Vec<&InstanceRecord> = members
        .into_iter()
        .filter(|i| i.status == InstanceStatus::Active && !track.removing.contains(&i.id))
        .filter(|i| provider.can_remove(i.ec2_instance_id.as_deref().unwrap_or_default()))
        .filter(|i| {
            state.tasks_on_instance(&i.id).all(|t| {
                t.record.last_status == TaskStatus::Stopped || t.record.released || is_daemon_task(state, &t.record)
            })
        })
        .collect();
    idle.sort_by(|a, b| {
        let zones = per_zone.get(zone(b)).cmp(&per_zone.get(zone(a)));
        zones.then(b.registered_at.total_cmp(&a.registered_at))
    });
    idle.into_iter().cloned().collect()
}

fn zone(instance: &InstanceRecord) -> &str {
    instance.attribute("ecs.availability-zone").unwrap_or_default()
}

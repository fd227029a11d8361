//! One pass of the daemon scheduler over one daemon: gathers the facts from the cache, decides with
//! `rollout::plan`, and writes each change with compare-and-swap (a task with its instance's reservation, a
//! replaced task's stop, an instance's drain); the deployment's own state moves in `deployment.rs`.

use super::records::{DaemonRecord, DaemonRevisionRecord, keys};
use super::rollout::{DaemonTaskView, InstanceView, RESTART_DELAY_SECONDS, batch_size, plan};
use super::task_definitions::{as_task_definition, find_in};
use super::{instances_of, is_running, started_by, tasks_on};
use crate::cache::State;
use crate::optimistic::Attempt;
use crate::records::{ContainerState, InstanceRecord, Reservation, StoredTag, TaskRecord, Transition};
use crate::status::{DesiredStatus, HealthState, InstanceStatus, StopCode, TaskLaunchType, TaskStatus};
use crate::tasks::stop::{InstanceUpdates, add_instance_updates, release_if_stopped};
use crate::{Control, Result, encode};
use berth_model::agent::ContainerSpec;
use berth_model::ecs::{
    ContainerOverride, DaemonPropagateTags, DaemonStatus, DaemonTaskDefinitionStatus, NetworkMode, Tag, TaskDefinition,
    TaskOverride,
};
use berth_runtime::Action;
use berth_store::Txn;

/// Whether a stopped daemon task stopped by itself (or by a user), not by the daemon scheduler: the instance is
/// then drained, as ECS drains and replaces it.
pub(crate) fn failed(task: &TaskRecord) -> bool {
    task.last_status() == Some(TaskStatus::Stopped) && task.stop_code != Some(StopCode::ServiceSchedulerInitiated)
}

/// What the daemon's tasks need from an instance: the task definition they run, their containers and reservation.
pub(super) struct TaskTemplate {
    definition: TaskDefinition,
    containers: Vec<berth_model::ecs::ContainerDefinition>,
    reservation: Reservation,
    required_attributes: Vec<String>,
}

pub(super) fn template(state: &State, revision: &DaemonRevisionRecord) -> Result<TaskTemplate> {
    let record = find_in(state, &revision.task_definition_arn)?;
    let definition = as_task_definition(&record.record.definition)?;
    let containers: Vec<_> = definition
        .container_definitions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|c| crate::task_definitions::normalise_container(c, NetworkMode::Bridge))
        .collect();
    let reservation = crate::tasks::build_demand(
        &containers,
        NetworkMode::Bridge,
        definition.cpu.as_deref().and_then(berth_model::ecs::task_definition::parse_task_cpu),
        definition.memory.as_deref().and_then(berth_model::ecs::task_definition::parse_task_memory),
    );
    let needs = crate::task_definitions::host_needs(&definition, &containers);
    let required_attributes = crate::placement::task_required_attributes(&definition, &needs);
    Ok(TaskTemplate { definition, containers, reservation, required_attributes })
}

/// Whether a daemon task of `template` fits on the instance as it is now.
pub(super) fn fits(instance: &InstanceRecord, template: &TaskTemplate) -> bool {
    let attributes: Vec<String> = crate::instances::all_attributes(instance).into_iter().map(|a| a.name).collect();
    instance.remaining_cpu >= template.reservation.cpu
        && instance.remaining_memory >= template.reservation.memory
        && template.required_attributes.iter().all(|a| attributes.contains(a))
}

impl Control {
    /// One pass over daemon (cluster, name).
    pub(crate) async fn reconcile_daemon(&self, cluster: &str, name: &str) -> Result<Action> {
        let key = (cluster.to_string(), name.to_string());
        let Some(daemon) = self.cache.read().daemons.get(&key).map(|v| v.record.clone()) else {
            return Ok(Action::await_change());
        };
        if daemon.status == DaemonStatus::DeleteInProgress {
            return self.finish_deletion(&daemon).await;
        }
        self.drain_for_failed_daemons(&daemon).await?;
        self.advance_deployment(&key).await?;
        self.stop_uncovered_tasks(&key).await?;
        let Some(daemon) = self.cache.read().daemons.get(&key).map(|v| v.record.clone()) else {
            return Ok(Action::await_change());
        };
        let deployment = daemon.last_deployment().filter(|d| d.is_active()).cloned();
        let revision =
            deployment.as_ref().and_then(|d| d.effective_revision()).unwrap_or(&daemon.current_revision).to_string();
        let now = self.now();
        let (views, template_ok) = {
            let state = self.cache.read();
            let template = daemon.revision(&revision).and_then(|r| template(&state, r).ok());
            let views: Vec<InstanceView> = instances_of(&state, &daemon)
                .into_iter()
                .map(|(_, instance)| {
                    let tasks = tasks_on(&state, &daemon, &instance.id);
                    let live = tasks.iter().rev().find(|t| t.last_status() != Some(TaskStatus::Stopped));
                    let recently_failed = tasks
                        .last()
                        .is_some_and(|t| failed(t) && t.stopped_at.is_some_and(|at| now < at + RESTART_DELAY_SECONDS));
                    let connected = self.agents.is_connected(&instance.id, self.config.agent_timeout);
                    InstanceView {
                        id: instance.id.clone(),
                        task: live.map(|t| DaemonTaskView {
                            key: (t.cluster.clone(), t.arn.rsplit('/').next().unwrap_or_default().to_string()),
                            revision: t.daemon_revision.clone().unwrap_or_default(),
                            running: is_running(t),
                            stopping: t.desired_status == DesiredStatus::Stopped,
                        }),
                        may_start: live.is_none()
                            && !recently_failed
                            && instance.daemon_replacement.is_none()
                            && connected
                            && template.as_ref().is_some_and(|t| fits(instance, t)),
                    }
                })
                .collect();
            (views, template.is_some())
        };
        if !template_ok {
            tracing::warn!(daemon = %daemon.arn, %revision, "the daemon's task definition cannot be read; no task starts");
        }
        let hold = deployment.as_ref().and_then(|d| d.bake_until).is_some_and(|until| now < until);
        let batch = batch_size(
            views.len(),
            deployment
                .as_ref()
                .and_then(|d| d.configuration.drain_percent)
                .unwrap_or(super::rollout::DEFAULT_DRAIN_PERCENT),
        );
        let plan = plan(&views, &revision, deployment.is_some(), batch, hold);
        let mut stepped = false;
        for instance in &plan.start {
            stepped |= self.start_daemon_task(&key, instance, &revision).await?;
        }
        for task in &plan.replace {
            let reason = format!(
                "Daemon deployment {}: replacing the daemon task with revision {revision}.",
                deployment.as_ref().map(|d| started_by(&d.id)).unwrap_or_default()
            );
            stepped |= self.stop_daemon_task(task, &reason).await?;
        }
        if stepped && let Some(d) = &deployment {
            self.mark_step(&key, &d.id).await?;
        }
        let next = deployment
            .as_ref()
            .and_then(|d| d.bake_until)
            .map(|until| (until - now).max(0.1))
            .unwrap_or(super::controller::RESYNC_SECONDS)
            .min(super::controller::RESYNC_SECONDS);
        Ok(Action::requeue(next))
    }

    /// Places one daemon task of `revision` on `instance_id`, with its instance's reservation, if the instance
    /// still has none of the daemon's tasks and room for it. Returns whether it placed one.
    async fn start_daemon_task(&self, key: &(String, String), instance_id: &str, revision: &str) -> Result<bool> {
        self.write("starting a daemon task", |state, now| {
            let Some(daemon) = state.daemons.get(key).map(|v| v.record.clone()) else {
                return Ok(Attempt::Done(false));
            };
            let Some((provider, instance)) =
                instances_of(state, &daemon).into_iter().find(|(_, i)| i.id == instance_id)
            else {
                return Ok(Attempt::Done(false));
            };
            if tasks_on(state, &daemon, instance_id).iter().any(|t| t.last_status() != Some(TaskStatus::Stopped)) {
                return Ok(Attempt::Done(false));
            }
            let Some(rev) = daemon.revision(revision) else { return Ok(Attempt::Done(false)) };
            let template = template(state, rev)?;
            if !fits(instance, &template) {
                return Ok(Attempt::Done(false));
            }
            let deployment = daemon.last_deployment().map(|d| d.id.clone()).unwrap_or_default();
            let task = self.new_daemon_task(&daemon, rev, &deployment, instance, &provider, &template, now);
            let mut host = instance.clone();
            host.remaining_cpu -= task.reservation.cpu;
            host.remaining_memory -= task.reservation.memory;
            host.version += 1;
            let instance_version =
                state.instances.get(&(host.cluster.clone(), host.id.clone())).map(|v| v.mod_revision).unwrap_or(0);
            let task_key = crate::records::keys::task(&task.cluster, task.arn.rsplit('/').next().unwrap_or_default());
            let host_key = crate::records::keys::instance(&host.cluster, &host.id);
            let txn = Txn::new()
                .expect(task_key.clone(), 0)
                .put(task_key, encode(&task)?)
                .expect(host_key.clone(), instance_version)
                .put(host_key, encode(&host)?);
            Ok(Attempt::Commit(txn, true))
        })
        .await
    }

    #[allow(clippy::too_many_arguments)]
    fn new_daemon_task(
        &self,
        daemon: &DaemonRecord,
        revision: &DaemonRevisionRecord,
        deployment: &str,
        instance: &InstanceRecord,
        provider: &str,
        template: &TaskTemplate,
        now: f64,
    ) -> TaskRecord {
        let cluster = &daemon.cluster;
        let id = berth_model::ids::new_hex_id();
        let specs: Vec<ContainerSpec> = template
            .containers
            .iter()
            .map(|definition| ContainerSpec {
                container_arn: self.arn(&format!("container/{cluster}/{id}/{}", berth_model::ids::new_uuid())),
                definition: definition.clone(),
            })
            .collect();
        let overrides = TaskOverride {
            container_overrides: Some(
                template
                    .containers
                    .iter()
                    .map(|c| ContainerOverride { name: c.name.clone(), ..Default::default() })
                    .collect(),
            ),
            inference_accelerator_overrides: Some(Vec::new()),
            ..Default::default()
        };
        let mut tags: Vec<Tag> = Vec::new();
        if revision.propagate_tags == Some(DaemonPropagateTags::Daemon) {
            tags.extend(StoredTag::to_wire(&daemon.tags));
        }
        if revision.enable_ecs_managed_tags {
            tags.push(Tag { key: Some(crate::tags::CLUSTER_NAME_TAG.into()), value: Some(cluster.clone()) });
        }
        TaskRecord {
            arn: self.arn(&format!("task/{cluster}/{id}")),
            cluster: cluster.clone(),
            cluster_arn: self.arn(&format!("cluster/{cluster}")),
            instance_id: instance.id.clone(),
            task_definition_arn: revision.task_definition_arn.clone(),
            group: Some(super::group(&daemon.name)),
            started_by: Some(started_by(deployment)),
            launch_type: Some(TaskLaunchType::Ec2),
            last_status: TaskStatus::Provisioning,
            desired_status: DesiredStatus::Running,
            health_status: HealthState::Unknown,
            enable_execute_command: revision.enable_execute_command,
            availability_zone: instance.attribute("ecs.availability-zone").map(str::to_string),
            cpu_architecture: instance.attribute("ecs.cpu-architecture").map(str::to_string),
            overrides: Some(overrides),
            tags: StoredTag::from_wire(&tags),
            version: 1,
            created_at: now,
            container_states: specs.iter().map(|_| ContainerState::pending()).collect(),
            containers: specs,
            network_mode: NetworkMode::Bridge,
            volumes: template.definition.volumes.clone().unwrap_or_default(),
            reservation: template.reservation.clone(),
            transitions: vec![Transition { status: TaskStatus::Provisioning, at: now }],
            capacity_provider_name: Some(provider.to_string()),
            daemon_revision: Some(revision.id.clone()),
            ..Default::default()
        }
    }

    /// Stops a daemon task as the daemon scheduler (`ServiceSchedulerInitiated`). Returns whether it asked.
    async fn stop_daemon_task(&self, key: &(String, String), reason: &str) -> Result<bool> {
        self.write("stopping a daemon task", |state, now| {
            let Some(v) = state.tasks.get(key) else { return Ok(Attempt::Done(false)) };
            if v.record.desired_status == DesiredStatus::Stopped {
                return Ok(Attempt::Done(false));
            }
            let mut record = (*v.record).clone();
            let orphaned =
                state.instances.get(&record.instance_key()).is_none_or(|i| i.record.status == InstanceStatus::Inactive);
            crate::tasks::stop_record(&mut record, now, reason, "ServiceSchedulerInitiated", orphaned);
            let mut updates = InstanceUpdates::new();
            release_if_stopped(state, &mut record, &mut updates);
            let task_key = crate::records::keys::task(&key.0, &key.1);
            let txn = Txn::new().expect(task_key.clone(), v.mod_revision).put(task_key, encode(&record)?);
            Ok(Attempt::Commit(add_instance_updates(txn, updates)?, true))
        })
        .await
    }

    /// Stops the daemon's tasks on instances it no longer covers (a deployment moved it to other capacity
    /// providers, or the instance left them).
    async fn stop_uncovered_tasks(&self, key: &(String, String)) -> Result<()> {
        let (name, stray): (String, Vec<(String, String)>) = {
            let state = self.cache.read();
            let Some(daemon) = state.daemons.get(key).map(|v| v.record.clone()) else { return Ok(()) };
            let covered: std::collections::BTreeSet<String> =
                instances_of(&state, &daemon).into_iter().map(|(_, i)| i.id.clone()).collect();
            let stray = state
                .tasks_by_group
                .get(&(daemon.cluster.clone(), super::group(&daemon.name)))
                .into_iter()
                .flatten()
                .filter(|k| {
                    state.tasks.get(*k).is_some_and(|t| {
                        t.record.desired_status == DesiredStatus::Running && !covered.contains(&t.record.instance_id)
                    })
                })
                .cloned()
                .collect();
            (daemon.name.clone(), stray)
        };
        for task in &stray {
            let reason = format!("Daemon {name} no longer runs on this instance's capacity providers.");
            self.stop_daemon_task(task, &reason).await?;
        }
        Ok(())
    }

    /// Drains every ACTIVE instance whose latest daemon task of this daemon stopped by itself, saying why. Where
    /// the instance's node provider can remove it and no deployment of the daemon is under way, it is also marked
    /// for replacement (ECS's daemon auto repair: a replacement host is launched and this one removed once only
    /// daemon tasks are left; `managed_scaling::replacement`); elsewhere (hosts Berth did not start, or a deployment
    /// whose revision fails, which the circuit breaker judges) its daemon task is started again in place.
    async fn drain_for_failed_daemons(&self, daemon: &DaemonRecord) -> Result<()> {
        let deploying = daemon.last_deployment().is_some_and(|d| d.is_active());
        let targets: Vec<(String, String, String, bool)> = {
            let state = self.cache.read();
            instances_of(&state, daemon)
                .into_iter()
                .filter(|(_, i)| i.status == InstanceStatus::Active && i.daemon_drain.is_none())
                .filter_map(|(_, i)| {
                    let tasks = tasks_on(&state, daemon, &i.id);
                    let last = tasks.last().filter(|t| failed(t))?;
                    let why = last.stopped_reason.clone().unwrap_or_else(|| "no reason given".into());
                    let id = last.arn.rsplit('/').next().unwrap_or_default().to_string();
                    let replace = !deploying && self.replaceable(i);
                    let then = if replace {
                        "ECS drains and replaces this instance: its node provider starts a replacement host, and this \
                         one is removed once only daemon tasks are left on it."
                    } else {
                        "ECS would drain and replace this instance; Berth does not own its host, so it drains it, \
                         starts a new daemon task, and makes it ACTIVE again when that task is RUNNING."
                    };
                    let reason = format!("Daemon {} task {id} stopped ({why}). {then}", daemon.name);
                    Some((i.cluster.clone(), i.id.clone(), reason, replace))
                })
                .collect()
        };
        for (cluster, id, reason, replace) in targets {
            self.write("draining an instance whose daemon task stopped", |state, _| {
                let Some(v) = state.instances.get(&(cluster.clone(), id.clone())) else {
                    return Ok(Attempt::Done(()));
                };
                if v.record.status != InstanceStatus::Active || v.record.daemon_drain.is_some() {
                    return Ok(Attempt::Done(()));
                }
                let mut record = (*v.record).clone();
                record.status = InstanceStatus::Draining;
                record.daemon_drain = Some(reason.clone());
                record.daemon_replacement = replace.then(crate::records::DaemonReplacement::default);
                record.version += 1;
                let key = crate::records::keys::instance(&cluster, &id);
                let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
                tracing::warn!(instance = %id, daemon = %daemon.name, replace,
                    "a daemon task stopped: draining its instance");
                Ok(Attempt::Commit(txn, ()))
            })
            .await?;
        }
        Ok(())
    }

    /// A deleted daemon: stops its tasks, and removes its record once they have all stopped (and the daemon task
    /// definitions that waited for it become DELETED).
    async fn finish_deletion(&self, daemon: &DaemonRecord) -> Result<Action> {
        let live: Vec<(String, String)> = {
            let state = self.cache.read();
            state
                .tasks_by_group
                .get(&(daemon.cluster.clone(), super::group(&daemon.name)))
                .into_iter()
                .flatten()
                .filter(|k| state.tasks.get(*k).is_some_and(|t| t.record.last_status() != Some(TaskStatus::Stopped)))
                .cloned()
                .collect()
        };
        for key in &live {
            self.stop_daemon_task(key, &format!("Daemon {} was deleted.", daemon.name)).await?;
        }
        if !live.is_empty() {
            return Ok(Action::requeue(super::controller::RESYNC_SECONDS));
        }
        let key = (daemon.cluster.clone(), daemon.name.clone());
        self.write("removing a deleted daemon", |state, _| {
            let Some(v) = state.daemons.get(&key) else { return Ok(Attempt::Done(())) };
            let store_key = keys::daemon(&key.0, &key.1);
            let mut txn = Txn::new().expect(store_key.clone(), v.mod_revision).delete(store_key);
            // Daemon task definitions deleted while this daemon used them are DELETED once nothing else does.
            for ((family, revision), td) in &state.daemon_task_definitions {
                if td.record.definition.status != Some(DaemonTaskDefinitionStatus::DeleteInProgress) {
                    continue;
                }
                let arn = td.record.definition.daemon_task_definition_arn.clone().unwrap_or_default();
                let others = state
                    .daemons
                    .iter()
                    .any(|(k, d)| *k != key && d.record.revisions.iter().any(|r| r.task_definition_arn == arn));
                if !others {
                    let mut record = (*td.record).clone();
                    record.definition.status = Some(DaemonTaskDefinitionStatus::Deleted);
                    let td_key = keys::task_definition(family, *revision);
                    txn = txn.expect(td_key.clone(), td.mod_revision).put(td_key, encode(&record)?);
                }
            }
            Ok(Attempt::Commit(txn, ()))
        })
        .await?;
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tasks_that_stopped_by_themselves_count_as_failed() {
        let mut task = TaskRecord { last_status: TaskStatus::Stopped, ..Default::default() };
        task.stop_code = Some(StopCode::EssentialContainerExited);
        assert!(failed(&task));
        task.stop_code = Some(StopCode::UserInitiated);
        assert!(failed(&task));
        task.stop_code = Some(StopCode::ServiceSchedulerInitiated);
        assert!(!failed(&task));
        task.last_status = TaskStatus::Running;
        task.stop_code = None;
        assert!(!failed(&task));
    }
}

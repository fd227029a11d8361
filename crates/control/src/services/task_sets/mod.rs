//! Task sets, for services with the EXTERNAL deployment controller: CreateTaskSet, DescribeTaskSets, UpdateTaskSet,
//! DeleteTaskSet and UpdateServicePrimaryTaskSet, and the rules CreateService, UpdateService and DeleteService
//! follow for such a service ([`check_external_service`], [`check_external_update`]).
//!
//! A task set carries what an ECS-controlled service's deployment takes from the service: the task definition, the
//! launch type or capacity provider strategy, the network configuration, the load balancers and registries. Its
//! size is the service's `desiredCount` times its `scale` ([`crate::records::computed_desired_count`]). The task
//! sets live in the service's record (`records::task_set`); the service scheduler keeps each at its size
//! ([`scheduler`], planned by [`plan`]), and the external controller (a CI pipeline, a deployment tool) moves traffic
//! between their target groups itself, e.g. with weighted forwarding on the listener.

pub mod plan;
mod rules;
pub mod scheduler;

pub(crate) use rules::{check_external_service, check_external_update};

use super::{find_service_in, new_deployment_id, not_active, replace_service};
use crate::cache::{State, Versioned};
use crate::optimistic::Attempt;
use crate::records::{MAX_TASK_SETS, ServiceRecord, Stability, StoredTag, StrategyItem, TaskSetRecord, TaskSetStatus};
use crate::status::{ServiceStatus, TaskLaunchType};
use crate::tags::validate_tags;
use crate::tasks::launch::{self, LaunchOptions};
use crate::{Control, ControlError, EcsException, Result};
use berth_model::arn::is_arn;
use berth_model::ecs::{
    CreateTaskSetRequest, CreateTaskSetResponse, DeleteTaskSetRequest, DeleteTaskSetResponse, DescribeTaskSetsRequest,
    DescribeTaskSetsResponse, Failure, Scale, ScaleUnit, StabilityStatus, TaskSet, TaskSetField,
    UpdateServicePrimaryTaskSetRequest, UpdateServicePrimaryTaskSetResponse, UpdateTaskSetRequest,
    UpdateTaskSetResponse,
};

fn task_set_not_found() -> ControlError {
    ControlError::ecs(EcsException::TaskSetNotFoundException, "The specified task set does not exist.")
}

/// The ACTIVE service with the EXTERNAL deployment controller a task set request names.
fn external_service(state: &State, cluster: &str, service: &str) -> Result<Versioned<ServiceRecord>> {
    let v = find_service_in(state, cluster, service.trim())?;
    if v.record.status() != Some(ServiceStatus::Active) {
        return Err(not_active());
    }
    if !v.record.is_external() {
        return Err(ControlError::invalid(
            "Task sets are only supported for services that use the EXTERNAL deployment controller.",
        ));
    }
    Ok(v)
}

/// The index of the task set `text` (its id `ecs-svc/...` or its ARN) names in the service.
fn task_set_index(record: &ServiceRecord, text: &str) -> Option<usize> {
    let text = text.trim();
    record.task_sets.iter().position(|t| if is_arn(text) { t.arn == text } else { t.id == text })
}

/// A `scale` as ECS takes it: a percentage from 0 to 100.
pub fn check_scale(scale: &Scale) -> Result<f64> {
    if scale.unit.is_some_and(|u| u != ScaleUnit::Percent) {
        return Err(ControlError::invalid("The scale unit must be PERCENT."));
    }
    if !scale.value.is_finite() || !(0.0..=100.0).contains(&scale.value) {
        return Err(ControlError::invalid(format!("The scale value must be between 0 and 100, got {}.", scale.value)));
    }
    Ok(scale.value)
}

impl Control {
    /// A task set as ECS shows it: its counts from its tasks (`startedBy` is its id), its size from the service's
    /// desired count.
    pub(crate) fn render_task_set(
        &self,
        state: &State,
        service: &ServiceRecord,
        ts: &TaskSetRecord,
        with_tags: bool,
    ) -> TaskSet {
        let counts = self.service_task_counts(state, service, Some(&ts.id));
        let strategy = (!ts.capacity_provider_strategy.is_empty())
            .then(|| ts.capacity_provider_strategy.iter().map(StrategyItem::to_wire).collect());
        TaskSet {
            id: Some(ts.id.clone()),
            task_set_arn: Some(ts.arn.clone()),
            service_arn: Some(service.arn.clone()),
            cluster_arn: Some(service.cluster_arn.clone()),
            started_by: None,
            external_id: ts.external_id.clone(),
            status: Some(ts.status.as_str().to_string()),
            task_definition: Some(ts.task_definition.clone()),
            computed_desired_count: ts.computed_desired_count(service.desired_count),
            pending_count: counts.pending,
            running_count: counts.running,
            created_at: Some(ts.created_at),
            updated_at: Some(ts.updated_at),
            launch_type: if ts.capacity_provider_strategy.is_empty() {
                ts.launch_type.and_then(TaskLaunchType::to_wire)
            } else {
                None
            },
            capacity_provider_strategy: strategy,
            platform_version: ts.platform_version.clone(),
            platform_family: ts.platform_version.as_ref().map(|_| crate::tasks::fargate::PLATFORM_FAMILY.into()),
            network_configuration: ts.network_configuration.clone(),
            load_balancers: Some(ts.load_balancers.clone()),
            service_registries: Some(ts.service_registries.clone()),
            scale: Some(Scale { value: ts.scale, unit: Some(ScaleUnit::Percent) }),
            stability_status: Some(match ts.stability {
                Stability::SteadyState => StabilityStatus::SteadyState,
                Stability::Stabilizing => StabilityStatus::Stabilizing,
            }),
            stability_status_at: Some(ts.stability_at),
            tags: with_tags.then(|| StoredTag::to_wire(&ts.tags)),
            fargate_ephemeral_storage: None,
        }
    }

    /// `CreateTaskSet`: checks the task set as CreateService checks a service (launch, task definition, network,
    /// targets), then adds it ACTIVE; the service scheduler starts its tasks.
    pub async fn create_task_set(&self, req: CreateTaskSetRequest) -> Result<CreateTaskSetResponse> {
        let cluster = self.cluster_name(Some(&req.cluster))?;
        if req.task_definition.trim().is_empty() {
            return Err(ControlError::invalid("taskDefinition is required."));
        }
        let scale = req.scale.as_ref().map(check_scale).transpose()?.unwrap_or(0.0);
        let tags = req.tags.clone().unwrap_or_default();
        validate_tags(&tags)?;
        let load_balancers = req.load_balancers.clone().unwrap_or_default();
        let service_registries = req.service_registries.clone().unwrap_or_default();
        let hook = self.service_targets();
        let record = self
            .write("creating a task set", |state, now| {
                let v = external_service(state, &cluster, &req.service)?;
                let mut service = (*v.record).clone();
                if let Some(token) = req.client_token.as_deref().filter(|t| !t.is_empty())
                    && let Some(existing) = service.task_sets.iter().find(|t| t.client_token.as_deref() == Some(token))
                {
                    return Ok(Attempt::Done((service.clone(), existing.id.clone())));
                }
                if service.task_sets.len() >= MAX_TASK_SETS {
                    return Err(ControlError::invalid(format!(
                        "{} deployments exist on the service. Unable to create new TaskSet since this exceeds the \
                         maximum limit.",
                        service.task_sets.len()
                    )));
                }
                let launch = LaunchOptions {
                    launch_type: req.launch_type,
                    capacity_provider_strategy: req.capacity_provider_strategy.as_deref(),
                    platform_version: req.platform_version.as_deref(),
                    volume_configurations: false,
                    network_configuration: req.network_configuration.as_ref(),
                    cluster: state.clusters.get(&cluster).map(|c| &*c.record),
                };
                let resolved = launch::check_options(&launch)?;
                if resolved.is_fargate() {
                    let constraints = service.placement_constraints.clone().unwrap_or_default();
                    let strategies = service.placement_strategy.clone().unwrap_or_default();
                    crate::tasks::fargate::check_placement(&constraints, &strategies)?;
                }
                let td = crate::task_definitions::find_task_definition_in(state, req.task_definition.trim())?;
                let definition = &td.record.task_definition;
                launch::check_task_definition(
                    &self.config.region,
                    definition,
                    definition.container_definitions.as_deref().unwrap_or_default(),
                    resolved.launch_type,
                    launch.network_configuration,
                    false,
                )?;
                crate::network::check(
                    &self.config.vpc,
                    self.security_groups(),
                    definition.network_mode,
                    launch.network_configuration,
                    resolved.launch_type,
                )?;
                super::validate_targets::check(
                    hook.as_deref(),
                    state,
                    &cluster,
                    &service.name,
                    &load_balancers,
                    &service_registries,
                    definition,
                )?;
                let id = new_deployment_id();
                let task_set = TaskSetRecord {
                    arn: self.arn(&format!("task-set/{cluster}/{}/{id}", service.name)),
                    id: id.clone(),
                    status: TaskSetStatus::Active,
                    task_definition: definition.task_definition_arn.clone().unwrap_or_default(),
                    launch_type: TaskLaunchType::from_wire(resolved.launch_type),
                    capacity_provider_strategy: resolved.strategy.iter().map(StrategyItem::from_wire).collect(),
                    platform_version: resolved.platform_version.clone(),
                    network_configuration: req.network_configuration.clone(),
                    load_balancers: load_balancers.clone(),
                    service_registries: service_registries.clone(),
                    scale,
                    external_id: req.external_id.clone(),
                    tags: StoredTag::from_wire(&tags),
                    client_token: req.client_token.clone().filter(|t| !t.is_empty()),
                    stability: Stability::Stabilizing,
                    stability_at: now,
                    created_at: now,
                    updated_at: now,
                };
                service.task_sets.push(task_set);
                service.steady = false;
                match replace_service(&cluster, v.mod_revision, service)? {
                    Attempt::Commit(txn, service) => Ok(Attempt::Commit(txn, (service, id))),
                    Attempt::Done(service) => Ok(Attempt::Done((service, id))),
                }
            })
            .await?;
        Ok(CreateTaskSetResponse { task_set: Some(self.answer(&record.0, &record.1, true)?) })
    }

    /// The task set `id` of a service record as ECS shows it, read against the current cache.
    fn answer(&self, service: &ServiceRecord, id: &str, with_tags: bool) -> Result<TaskSet> {
        let ts = service.task_sets.iter().find(|t| t.id == id).ok_or_else(task_set_not_found)?;
        let state = self.cache.read();
        Ok(self.render_task_set(&state, service, ts, with_tags))
    }

    /// `DescribeTaskSets`: the service's task sets (or the ones named, by id or ARN; unknown ones are `MISSING`
    /// failures), with their tags when `include` asks.
    pub fn describe_task_sets(&self, req: DescribeTaskSetsRequest) -> Result<DescribeTaskSetsResponse> {
        let cluster = self.cluster_name(Some(&req.cluster))?;
        let with_tags = req.include.iter().flatten().any(|f| *f == TaskSetField::Tags);
        let state = self.cache.read();
        let v = external_service(&state, &cluster, &req.service)?;
        let record = &v.record;
        let mut task_sets = Vec::new();
        let mut failures = Vec::new();
        match req.task_sets.as_deref().filter(|l| !l.is_empty()) {
            None => {
                task_sets.extend(record.task_sets.iter().map(|t| self.render_task_set(&state, record, t, with_tags)))
            }
            Some(names) => {
                for text in names {
                    match task_set_index(record, text) {
                        Some(i) => {
                            task_sets.push(self.render_task_set(&state, record, &record.task_sets[i], with_tags))
                        }
                        None => failures.push(Failure {
                            arn: Some(if is_arn(text) {
                                text.clone()
                            } else {
                                self.arn(&format!("task-set/{cluster}/{}/{text}", record.name))
                            }),
                            reason: Some("MISSING".into()),
                            detail: None,
                        }),
                    }
                }
            }
        }
        Ok(DescribeTaskSetsResponse { task_sets: Some(task_sets), failures: Some(failures) })
    }

    /// `UpdateTaskSet`: a new `scale`; the service scheduler starts or stops tasks to match.
    pub async fn update_task_set(&self, req: UpdateTaskSetRequest) -> Result<UpdateTaskSetResponse> {
        let cluster = self.cluster_name(Some(&req.cluster))?;
        let scale = check_scale(&req.scale)?;
        let (record, id) = self
            .modify_task_set(&cluster, &req.service, &req.task_set, "updating a task set", |service, i, now| {
                let ts = &mut service.task_sets[i];
                if ts.status == TaskSetStatus::Draining {
                    return Err(ControlError::invalid(
                        "The task set is being deleted (DRAINING): it cannot be updated.",
                    ));
                }
                if ts.scale != scale {
                    ts.scale = scale;
                    ts.updated_at = now;
                    ts.stability = Stability::Stabilizing;
                    ts.stability_at = now;
                    service.steady = false;
                }
                Ok(())
            })
            .await?;
        Ok(UpdateTaskSetResponse { task_set: Some(self.answer(&record, &id, false)?) })
    }

    /// `UpdateServicePrimaryTaskSet`: the named task set becomes PRIMARY and the previous primary ACTIVE; the service
    /// shows the primary's task definition, launch and targets from now on.
    pub async fn update_service_primary_task_set(
        &self,
        req: UpdateServicePrimaryTaskSetRequest,
    ) -> Result<UpdateServicePrimaryTaskSetResponse> {
        let cluster = self.cluster_name(Some(&req.cluster))?;
        let (record, id) = self
            .modify_task_set(
                &cluster,
                &req.service,
                &req.primary_task_set,
                "choosing a primary task set",
                |service, i, now| {
                    match service.task_sets[i].status {
                        TaskSetStatus::Primary => return Ok(()),
                        TaskSetStatus::Draining => {
                            return Err(ControlError::invalid(
                                "The task set is being deleted (DRAINING): it cannot become the primary task set.",
                            ));
                        }
                        TaskSetStatus::Active => {}
                    }
                    for (j, ts) in service.task_sets.iter_mut().enumerate() {
                        if j == i {
                            ts.status = TaskSetStatus::Primary;
                            ts.updated_at = now;
                        } else if ts.status == TaskSetStatus::Primary {
                            ts.status = TaskSetStatus::Active;
                            ts.updated_at = now;
                        }
                    }
                    Ok(())
                },
            )
            .await?;
        Ok(UpdateServicePrimaryTaskSetResponse { task_set: Some(self.answer(&record, &id, false)?) })
    }

    /// `DeleteTaskSet`: the task set turns DRAINING (its tasks stop, deregistered from its target groups first)
    /// and disappears once none is left. The primary task set, or one not scaled to 0, needs `force`.
    pub async fn delete_task_set(&self, req: DeleteTaskSetRequest) -> Result<DeleteTaskSetResponse> {
        let cluster = self.cluster_name(Some(&req.cluster))?;
        let force = req.force == Some(true);
        let (record, id) = self
            .modify_task_set(&cluster, &req.service, &req.task_set, "deleting a task set", |service, i, now| {
                let desired = service.desired_count;
                let ts = &mut service.task_sets[i];
                match ts.status {
                    TaskSetStatus::Draining => return Ok(()),
                    TaskSetStatus::Primary if !force => {
                        return Err(ControlError::invalid(
                            "The primary task set of a service cannot be deleted unless force is specified.",
                        ));
                    }
                    _ => {}
                }
                if ts.computed_desired_count(desired) > 0 && !force {
                    return Err(ControlError::invalid(
                        "The task set cannot be deleted while it is scaled above 0. Scale it to 0 first (UpdateTaskSet), \
                         or delete it with force.",
                    ));
                }
                ts.status = TaskSetStatus::Draining;
                ts.updated_at = now;
                ts.stability = Stability::Stabilizing;
                ts.stability_at = now;
                service.steady = false;
                Ok(())
            })
            .await?;
        Ok(DeleteTaskSetResponse { task_set: Some(self.answer(&record, &id, false)?) })
    }

    /// Changes one task set of an EXTERNAL service with compare-and-swap on the service's record; answers the
    /// record and the task set's id.
    async fn modify_task_set(
        &self,
        cluster: &str,
        service: &str,
        task_set: &str,
        context: &str,
        mut change: impl FnMut(&mut ServiceRecord, usize, f64) -> Result<()>,
    ) -> Result<(ServiceRecord, String)> {
        self.write(context, |state, now| {
            let v = external_service(state, cluster, service)?;
            let mut record = (*v.record).clone();
            let i = task_set_index(&record, task_set).ok_or_else(task_set_not_found)?;
            let id = record.task_sets[i].id.clone();
            change(&mut record, i, now)?;
            if record == *v.record {
                return Ok(Attempt::Done((record, id)));
            }
            match replace_service(cluster, v.mod_revision, record)? {
                Attempt::Commit(txn, record) => Ok(Attempt::Commit(txn, (record, id))),
                Attempt::Done(record) => Ok(Attempt::Done((record, id))),
            }
        })
        .await
    }
}

/// The PRIMARY task set of a service, if it has one.
pub(crate) fn primary(record: &ServiceRecord) -> Option<&TaskSetRecord> {
    record.task_sets.iter().find(|t| t.status == TaskSetStatus::Primary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_percentages_from_0_to_100() {
        assert_eq!(check_scale(&Scale { value: 50.0, unit: Some(ScaleUnit::Percent) }).unwrap(), 50.0);
        assert_eq!(check_scale(&Scale { value: 0.0, unit: None }).unwrap(), 0.0);
        assert_eq!(check_scale(&Scale { value: 100.0, unit: None }).unwrap(), 100.0);
        for bad in [-1.0, 100.5, f64::NAN, f64::INFINITY] {
            let e = check_scale(&Scale { value: bad, unit: None }).unwrap_err().to_string();
            assert!(e.contains("between 0 and 100"), "{e}");
        }
    }
}

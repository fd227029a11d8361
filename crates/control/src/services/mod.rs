//! Services: CreateService, UpdateService, DeleteService, DescribeServices, ListServices, and the service
//! deployments and revisions they create. The [`controller`] keeps them running.

pub mod alarms;
pub mod blue_green;
pub mod controller;
mod deployments;
pub mod env;
mod failures;
pub mod machine;
pub mod math;
mod stop_deployment;
pub mod targets;
pub mod task_sets;
pub mod throttle;
mod validate_targets;

pub(crate) use failures::is_failure;

use crate::cache::{State, Versioned};
use crate::optimistic::Attempt;
use crate::paging::{page_size, paginate};
use crate::records::{ServiceEventRecord, ServiceRecord, StoredTag, TaskSetStatus, keys};
use crate::status::{
    DeploymentStatus, DesiredStatus, InstanceStatus, RolloutState, Scheduling, ServiceStatus, TagPropagation,
    TaskLaunchType, TaskStatus,
};
use crate::tags::validate_tags;
use crate::tasks::launch::{self, LaunchOptions};
use crate::{Control, ControlError, EcsException, Result, encode};
use berth_model::arn::{Arn, is_arn};
use berth_model::ecs::task_definition::is_valid_name;
use berth_model::ecs::{
    CreateServiceRequest, CreateServiceResponse, DeleteServiceRequest, DeleteServiceResponse, Deployment,
    DeploymentConfiguration, DeploymentController, DeploymentControllerType, DeploymentRolloutState,
    DescribeServicesRequest, DescribeServicesResponse, LaunchType, ListServicesByNamespaceRequest,
    ListServicesByNamespaceResponse, ListServicesRequest, ListServicesResponse, PlacementConstraint, PlacementStrategy,
    PropagateTags, SchedulingStrategy, Service, ServiceCurrentRevisionSummary, ServiceField, UpdateServiceRequest,
    UpdateServiceResponse,
};
use berth_store::Txn;
use rand::Rng as _;
use sha2::{Digest, Sha256};

/// How many events DescribeServices shows (ECS keeps the last 100).
pub const MAX_EVENTS: usize = 100;
/// How many service revisions and service deployments a service keeps.
pub const MAX_HISTORY: usize = 20;

pub(crate) fn digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// A new deployment id, `ecs-svc/` and 19 digits.
pub fn new_deployment_id() -> String {
    format!("ecs-svc/{}", digits(19))
}

/// The service a request names (name or ARN) in `cluster`, from the cache state.
fn find_service_in(state: &State, cluster: &str, text: &str) -> Result<Versioned<ServiceRecord>> {
    let name = service_name(text)?;
    state.services.get(&(cluster.to_string(), name)).cloned().ok_or_else(service_not_found)
}

/// The write of a changed service record over the revision it was read at, answering the record.
fn replace_service(cluster: &str, revision: i64, record: ServiceRecord) -> Result<Attempt<ServiceRecord>> {
    let key = keys::service(cluster, record.name.as_str());
    let txn = Txn::new().expect(key.clone(), revision).put(key, encode(&record)?);
    Ok(Attempt::Commit(txn, record))
}

fn service_not_found() -> ControlError {
    ControlError::ecs(EcsException::ServiceNotFoundException, "Service not found.")
}

fn not_active() -> ControlError {
    ControlError::ecs(EcsException::ServiceNotActiveException, "Service was not ACTIVE.")
}

/// The group of a service's tasks.
pub fn service_group(name: &str) -> String {
    format!("service:{name}")
}

/// The short name a `service` parameter names (a name or an ARN).
pub fn service_name(text: &str) -> Result<String> {
    if is_arn(text) {
        let arn = Arn::parse(text).map_err(|e| ControlError::invalid(e.to_string()))?;
        if arn.resource_type() != "service" {
            return Err(ControlError::invalid(format!("{text} is not a service ARN.")));
        }
        return arn
            .resource_path()
            .last()
            .map(|s| s.to_string())
            .ok_or_else(|| ControlError::invalid(format!("{text} is not a service ARN.")));
    }
    Ok(text.to_string())
}

/// Checks a deployment configuration and fills ECS's defaults for the scheduling strategy.
pub fn normalise_deployment_configuration(
    config: Option<&DeploymentConfiguration>,
    strategy: SchedulingStrategy,
) -> Result<DeploymentConfiguration> {
    let (default_min, default_max) =
        if strategy == SchedulingStrategy::Daemon { math::DAEMON_DEFAULTS } else { math::REPLICA_DEFAULTS };
    let mut out = config.cloned().unwrap_or_default();
    let min = out.minimum_healthy_percent.unwrap_or(default_min);
    let max = out.maximum_percent.unwrap_or(default_max);
    if !(0..=100).contains(&min) {
        return Err(ControlError::invalid(format!("minimumHealthyPercent must be between 0 and 100, got {min}.")));
    }
    if strategy == SchedulingStrategy::Daemon && max != 100 {
        return Err(ControlError::invalid(
            "maximumPercent must be 100 for services with the DAEMON scheduling strategy.",
        ));
    }
    // ECS takes more than 200 (deployed Terraform configurations use 400): docs/COMPATIBILITY.md §7.
    if max < 100 {
        return Err(ControlError::invalid(format!("maximumPercent must be at least 100, got {max}.")));
    }
    blue_green::config::normalise(&mut out, strategy == SchedulingStrategy::Daemon)?;
    if let Some(threshold) = out.deployment_circuit_breaker.as_ref().and_then(|c| c.threshold_configuration.as_ref())
        && threshold.value < 1
    {
        return Err(ControlError::invalid("The circuit breaker threshold value must be at least 1."));
    }
    alarms::validate(out.alarms.as_ref())?;
    out.minimum_healthy_percent = Some(min);
    out.maximum_percent = Some(max);
    Ok(out)
}

fn validate_placement(
    strategy_kind: SchedulingStrategy,
    constraints: &[PlacementConstraint],
    strategies: &[PlacementStrategy],
) -> Result<()> {
    if strategy_kind == SchedulingStrategy::Daemon && !strategies.is_empty() {
        return Err(ControlError::invalid(
            "Placement strategies are not supported with the DAEMON scheduling strategy.",
        ));
    }
    // Parse now so that a bad expression is an error of this call, pointing at the problem.
    crate::placement::demand(
        &Default::default(),
        "service:x",
        constraints,
        strategies,
        Vec::new(),
        crate::tasks::DefaultStrategy::Service,
    )?;
    Ok(())
}

/// The [`ServiceFeatures`] of a CreateService or UpdateService request (two request types with the same members).
macro_rules! service_features {
    ($req:expr) => {
        ServiceFeatures {
            service_connect: $req.service_connect_configuration.as_ref().is_some_and(|c| c.enabled),
            deployment_controller: $req.deployment_controller.as_ref(),
            vpc_lattice: $req.vpc_lattice_configurations.as_ref().is_some_and(|l| !l.is_empty()),
            gateway_connectors: $req.gateway_connectors.as_ref().is_some_and(|l| !l.is_empty()),
            monitoring: $req
                .monitoring
                .as_ref()
                .is_some_and(|m| m.metric_configurations.iter().flatten().next().is_some()),
        }
    };
}

/// The service features of a CreateService or UpdateService request that Berth does not have yet.
struct ServiceFeatures<'a> {
    service_connect: bool,
    deployment_controller: Option<&'a DeploymentController>,
    vpc_lattice: bool,
    gateway_connectors: bool,
    monitoring: bool,
}

/// Refuses, with `UnsupportedFeatureException` naming it, a service feature Berth does not have yet.
fn check_service_features(f: &ServiceFeatures<'_>) -> Result<()> {
    if f.deployment_controller.is_some_and(|c| c.r#type == DeploymentControllerType::CodeDeploy) {
        return Err(ControlError::ecs(
            EcsException::UnsupportedFeatureException,
            "The CODE_DEPLOY deployment controller is not supported: Berth has no CodeDeploy API. Use the EXTERNAL \
             deployment controller with task sets, or ECS.",
        ));
    }
    let refused = [
        (f.service_connect, "Service Connect is"),
        (f.vpc_lattice, "VPC Lattice configurations are"),
        (f.gateway_connectors, "Gateway connectors are"),
        (f.monitoring, "Service monitoring metric configurations are"),
    ];
    match refused.iter().find(|(given, _)| *given) {
        Some((_, what)) => Err(ControlError::ecs(
            EcsException::UnsupportedFeatureException,
            format!("{what} not supported by Berth yet."),
        )),
        None => Ok(()),
    }
}

fn fingerprint(req: &CreateServiceRequest) -> String {
    let mut unkeyed = req.clone();
    unkeyed.client_token = None;
    hex::encode(Sha256::digest(serde_json::to_vec(&unkeyed).unwrap_or_default()))
}

/// How many of a deployment's tasks run and wait; a task with health checks counts as running once HEALTHY.
#[derive(Debug, Default, Clone, Copy)]
pub struct TaskCounts {
    /// RUNNING (and healthy, where the task definition checks health).
    pub running: i32,
    /// Not yet running, or running but not yet healthy.
    pub pending: i32,
}

impl Control {
    /// The [`env::Env`] of a decision about a service made at `now`.
    pub(crate) fn service_env(&self, now: f64) -> env::Env {
        env::Env {
            now,
            region: self.config.region.clone(),
            account_id: self.config.account_id.clone(),
            stabilization: self.config.deployment_stabilization.as_secs_f64(),
            minute: self.config.deployment_minute.as_secs_f64(),
            alarms_in_alarm: Default::default(),
        }
    }
}

impl Control {
    /// Counts the tasks of a service that want to run, by deployment id ("" for all).
    pub(crate) fn service_task_counts(
        &self,
        state: &State,
        record: &ServiceRecord,
        deployment: Option<&str>,
    ) -> TaskCounts {
        let mut counts = TaskCounts::default();
        let name = record.name.clone();
        for t in state.tasks_in_group(&record.cluster, &service_group(&name)) {
            if t.record.desired_status() != Some(DesiredStatus::Running)
                || t.record.last_status() == Some(TaskStatus::Stopped)
            {
                continue;
            }
            if deployment.is_some_and(|d| t.record.started_by.as_deref() != Some(d)) {
                continue;
            }
            if machine::is_healthy_running(&t.record) {
                counts.running += 1;
            } else {
                counts.pending += 1;
            }
        }
        counts
    }

    /// The service as DescribeServices shows it.
    pub(crate) fn render_service(&self, state: &State, record: &ServiceRecord, with_tags: bool) -> Service {
        let all = self.service_task_counts(state, record, None);
        let mut service = Service {
            service_arn: Some(record.arn.clone()),
            service_name: Some(record.name.clone()),
            cluster_arn: Some(record.cluster_arn.clone()),
            load_balancers: record.load_balancers.clone(),
            service_registries: record.service_registries.clone(),
            status: Some(record.status.as_str().to_string()),
            desired_count: record.desired_count,
            running_count: all.running,
            pending_count: all.pending,
            // A service launched through a capacity provider strategy shows the strategy, not a launch type.
            launch_type: if record.capacity_provider_strategy.is_empty() {
                record.launch_type.and_then(TaskLaunchType::to_wire)
            } else {
                None
            },
            capacity_provider_strategy: (!record.capacity_provider_strategy.is_empty())
                .then(|| record.capacity_provider_strategy.iter().map(crate::records::StrategyItem::to_wire).collect()),
            platform_version: record.platform_version.clone(),
            platform_family: record.platform_version.as_ref().map(|_| crate::tasks::fargate::PLATFORM_FAMILY.into()),
            task_definition: record.task_definition.clone(),
            deployment_configuration: record.deployment_configuration.clone(),
            role_arn: record.role_arn.clone(),
            events: Some(record.events.iter().map(ServiceEventRecord::to_wire).collect()),
            created_at: Some(record.created_at),
            placement_constraints: record.placement_constraints.clone(),
            placement_strategy: record.placement_strategy.clone(),
            network_configuration: record.network_configuration.clone(),
            health_check_grace_period_seconds: record.health_check_grace_period_seconds,
            scheduling_strategy: record.scheduling_strategy.and_then(Scheduling::to_wire),
            deployment_controller: record.deployment_controller.clone(),
            tags: with_tags.then(|| StoredTag::to_wire(&record.tags)),
            created_by: record.created_by.clone(),
            enable_ecs_managed_tags: record.enable_ecs_managed_tags,
            propagate_tags: record.propagate_tags.and_then(TagPropagation::to_wire),
            enable_execute_command: record.enable_execute_command,
            ..Default::default()
        };
        if record.is_external() {
            // Task sets replace deployments; the service shows its primary task set's members (none without one).
            service.deployments = Some(Vec::new());
            service.task_sets =
                Some(record.task_sets.iter().map(|t| self.render_task_set(state, record, t, false)).collect());
            if let Some(primary) = task_sets::primary(record) {
                let shown = self.render_task_set(state, record, primary, false);
                service.task_definition = shown.task_definition;
                service.launch_type = shown.launch_type;
                service.capacity_provider_strategy = shown.capacity_provider_strategy;
                service.platform_version = shown.platform_version;
                service.platform_family = shown.platform_family;
                service.network_configuration = shown.network_configuration;
                service.load_balancers = shown.load_balancers;
                service.service_registries = shown.service_registries;
            }
            return service;
        }
        service.deployments = Some(
            record
                .deployments
                .iter()
                .map(|d| {
                    let counts = self.service_task_counts(state, record, Some(&d.id));
                    Deployment {
                        id: Some(d.id.clone()),
                        status: Some(d.status.as_str().to_string()),
                        task_definition: Some(d.task_definition.clone()),
                        desired_count: if d.status == DeploymentStatus::Primary { service.desired_count } else { 0 },
                        pending_count: counts.pending,
                        running_count: counts.running,
                        failed_tasks: d.failed_tasks,
                        created_at: Some(d.created_at),
                        updated_at: Some(d.updated_at),
                        launch_type: service.launch_type,
                        capacity_provider_strategy: service.capacity_provider_strategy.clone(),
                        platform_version: service.platform_version.clone(),
                        platform_family: service.platform_family.clone(),
                        rollout_state: DeploymentRolloutState::parse(d.rollout_state.as_str()),
                        rollout_state_reason: Some(d.rollout_state_reason.clone()),
                        ..Default::default()
                    }
                })
                .collect(),
        );
        if let Some(primary) = record.deployments.first() {
            service.task_definition = Some(primary.task_definition.clone());
            service.current_service_deployment = Some(primary.service_deployment_arn.clone());
            let counts = self.service_task_counts(state, record, Some(&primary.id));
            service.current_service_revisions = Some(vec![ServiceCurrentRevisionSummary {
                arn: Some(primary.revision_arn.clone()),
                requested_task_count: service.desired_count,
                running_task_count: counts.running,
                pending_task_count: counts.pending,
            }]);
        }
        service
    }

    /// A desired count must be between 0 and the "Tasks per service" quota ([`crate::ControlConfig`]).
    fn check_desired_count(&self, n: i32) -> Result<()> {
        let max = self.config.max_tasks_per_service;
        if n < 0 {
            return Err(ControlError::invalid(format!("desiredCount must be 0 or more, got {n}.")));
        }
        if i64::from(n) > i64::from(max) {
            return Err(ControlError::invalid(format!(
                "desiredCount must be at most {max} (the 'Tasks per service' quota), got {n}."
            )));
        }
        Ok(())
    }

    /// `CreateService`.
    pub async fn create_service(&self, req: CreateServiceRequest) -> Result<CreateServiceResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        if !is_valid_name(&req.service_name) {
            return Err(ControlError::invalid(
                "Service names can have up to 255 characters: letters (uppercase and lowercase), numbers, hyphens and underscores.",
            ));
        }
        let strategy = req.scheduling_strategy.unwrap_or(SchedulingStrategy::Replica);
        let desired = match (strategy, req.desired_count) {
            (SchedulingStrategy::Replica, None) => {
                return Err(ControlError::invalid(
                    "desiredCount is required for services with the REPLICA scheduling strategy.",
                ));
            }
            (SchedulingStrategy::Replica, Some(n)) => {
                self.check_desired_count(n)?;
                n
            }
            (SchedulingStrategy::Daemon, Some(_)) => {
                return Err(ControlError::invalid("The DAEMON scheduling strategy does not support a desired count."));
            }
            (SchedulingStrategy::Daemon, None) => 0,
        };
        let cluster_record = self.cache.read().clusters.get(&cluster).map(|v| v.record.clone());
        let launch = LaunchOptions {
            launch_type: req.launch_type,
            capacity_provider_strategy: req.capacity_provider_strategy.as_deref(),
            platform_version: req.platform_version.as_deref(),
            volume_configurations: req.volume_configurations.as_ref().is_some_and(|v| !v.is_empty()),
            network_configuration: req.network_configuration.as_ref(),
            cluster: cluster_record.as_deref(),
        };
        let resolved = launch::check_options(&launch)?;
        let launch_type = resolved.launch_type;
        if resolved.uses_node_groups() && strategy == SchedulingStrategy::Daemon {
            return Err(ControlError::invalid(
                "The DAEMON scheduling strategy does not support a capacity provider strategy.",
            ));
        }
        if resolved.is_fargate() && strategy == SchedulingStrategy::Daemon {
            return Err(ControlError::invalid(
                "The DAEMON scheduling strategy does not support the FARGATE launch type.",
            ));
        }
        check_service_features(&service_features!(req))?;
        let external =
            req.deployment_controller.as_ref().is_some_and(|c| c.r#type == DeploymentControllerType::External);
        let load_balancers = req.load_balancers.clone().unwrap_or_default();
        let service_registries = req.service_registries.clone().unwrap_or_default();
        let td_arn = if external {
            // Task sets carry the task definition, network configuration and targets (`task_sets`).
            task_sets::check_external_service(&req, strategy)?;
            None
        } else {
            let td = self.find_task_definition(
                req.task_definition.as_deref().ok_or_else(|| ControlError::invalid("taskDefinition is required."))?,
            )?;
            let definition = &td.record.task_definition;
            launch::check_task_definition(
                &self.config.region,
                definition,
                definition.container_definitions.as_deref().unwrap_or_default(),
                launch_type,
                launch.network_configuration,
                false,
            )?;
            validate_targets::check(
                self.service_targets().as_deref(),
                &self.cache.read(),
                &cluster,
                &req.service_name,
                &load_balancers,
                &service_registries,
                definition,
            )?;
            crate::network::check(
                &self.config.vpc,
                self.security_groups(),
                definition.network_mode,
                launch.network_configuration,
                launch_type,
            )?;
            Some(td.record.task_definition.task_definition_arn.clone().unwrap_or_default())
        };
        let deployment_configuration =
            normalise_deployment_configuration(req.deployment_configuration.as_ref(), strategy)?;
        blue_green::config::check_pairing(Some(&deployment_configuration), &load_balancers)?;
        let constraints = req.placement_constraints.clone().unwrap_or_default();
        let strategies = req.placement_strategy.clone().unwrap_or_default();
        validate_placement(strategy, &constraints, &strategies)?;
        if resolved.is_fargate() {
            crate::tasks::fargate::check_placement(&constraints, &strategies)?;
        }
        if req.health_check_grace_period_seconds.is_some_and(|g| g < 0) {
            return Err(ControlError::invalid("healthCheckGracePeriodSeconds must be 0 or more."));
        }
        let tags = req.tags.clone().unwrap_or_default();
        validate_tags(&tags)?;
        let fp = fingerprint(&req);
        let record = self
            .write("creating a service", |state, now| {
                let existing = state.services.get(&(cluster.clone(), req.service_name.clone())).cloned();
                if let Some(v) = &existing {
                    match v.record.status() {
                        Some(ServiceStatus::Active) if v.record.create_fingerprint == fp => {
                            return Ok(Attempt::Done((*v.record).clone()));
                        }
                        Some(ServiceStatus::Active) => {
                            return Err(ControlError::invalid("Creation of service was not idempotent."));
                        }
                        Some(ServiceStatus::Draining) => {
                            return Err(ControlError::invalid("Unable to Start a service that is still Draining."));
                        }
                        _ => {}
                    }
                }
                let name = req.service_name.clone();
                let mut record = ServiceRecord {
                    arn: self.arn(&format!("service/{cluster}/{name}")),
                    name: name.clone(),
                    cluster: cluster.clone(),
                    cluster_arn: self.arn(&format!("cluster/{cluster}")),
                    load_balancers: Some(load_balancers.clone()),
                    service_registries: Some(service_registries.clone()),
                    status: ServiceStatus::Active,
                    desired_count: desired,
                    launch_type: TaskLaunchType::from_wire(launch_type),
                    capacity_provider_strategy: resolved
                        .strategy
                        .iter()
                        .map(crate::records::StrategyItem::from_wire)
                        .collect(),
                    platform_version: resolved.platform_version.clone(),
                    task_definition: td_arn.clone(),
                    deployment_configuration: Some(deployment_configuration.clone()),
                    role_arn: req.role.clone(),
                    created_at: now,
                    placement_constraints: Some(constraints.clone()),
                    placement_strategy: Some(strategies.clone()),
                    health_check_grace_period_seconds: req.health_check_grace_period_seconds,
                    scheduling_strategy: Scheduling::from_wire(strategy),
                    deployment_controller: Some(DeploymentController {
                        r#type: if external {
                            DeploymentControllerType::External
                        } else {
                            DeploymentControllerType::Ecs
                        },
                    }),
                    tags: StoredTag::from_wire(&tags),
                    created_by: Some(format!("arn:aws:iam::{}:root", self.config.account_id)),
                    enable_ecs_managed_tags: req.enable_ecs_managed_tags,
                    propagate_tags: TagPropagation::from_wire(req.propagate_tags.unwrap_or(PropagateTags::None)),
                    enable_execute_command: req.enable_execute_command,
                    network_configuration: req.network_configuration.clone(),
                    create_fingerprint: fp.clone(),
                    ..Default::default()
                };
                if let Some(td_arn) = &td_arn {
                    let deployment = self.service_env(now).new_deployment(&mut record, td_arn, false);
                    record.deployments.insert(0, deployment);
                }
                if let (SchedulingStrategy::Daemon, Some(td_arn)) = (strategy, &td_arn) {
                    // A daemon wants one task on every instance it fits, from the start.
                    let fits = state
                        .instances
                        .range((cluster.clone(), String::new())..)
                        .take_while(|((c, _), _)| *c == cluster)
                        .filter(|(_, i)| i.record.status() == Some(InstanceStatus::Active))
                        .filter(|(_, i)| self.daemon_fits(state, &record, td_arn, &i.record))
                        .count();
                    record.desired_count = fits as i32;
                }
                let key = keys::service(&cluster, &name);
                let txn = Txn::new()
                    .expect(key.clone(), existing.as_ref().map(|v| v.mod_revision).unwrap_or(0))
                    .put(key, encode(&record)?);
                Ok(Attempt::Commit(txn, record))
            })
            .await?;
        let state = self.cache.read();
        Ok(CreateServiceResponse { service: Some(self.render_service(&state, &record, true)) })
    }

    /// `DescribeServices`.
    pub fn describe_services(&self, req: DescribeServicesRequest) -> Result<DescribeServicesResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        if req.services.is_empty() || req.services.len() > 10 {
            return Err(ControlError::invalid("services must name between 1 and 10 services."));
        }
        let with_tags = req.include.iter().flatten().any(|f| *f == ServiceField::Tags);
        let state = self.cache.read();
        let mut services = Vec::new();
        let mut failures = Vec::new();
        for text in &req.services {
            let found = service_name(text).ok().and_then(|n| state.services.get(&(cluster.clone(), n)));
            match found {
                Some(v) => services.push(self.render_service(&state, &v.record, with_tags)),
                None => failures.push(self.missing_in(&state, "service", &cluster, text)),
            }
        }
        Ok(DescribeServicesResponse { services: Some(services), failures: Some(failures) })
    }

    /// `ListServices`: ACTIVE and DRAINING services (ECS's page size defaults to 10).
    pub fn list_services(&self, req: ListServicesRequest) -> Result<ListServicesResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let size = page_size(req.max_results, 10, 100)?;
        let state = self.cache.read();
        let items: Vec<(String, String)> = state
            .services
            .range((cluster.clone(), String::new())..)
            .take_while(|((c, _), _)| *c == cluster)
            .filter(|(_, v)| v.record.status() != Some(ServiceStatus::Inactive))
            .filter(|(_, v)| req.launch_type.is_none_or(|l| v.record.launch_type == TaskLaunchType::from_wire(l)))
            .filter(|(_, v)| {
                req.scheduling_strategy.is_none_or(|s| v.record.scheduling_strategy == Scheduling::from_wire(s))
            })
            .map(|((_, name), v)| (name.clone(), v.record.arn.clone()))
            .collect();
        drop(state);
        let page = paginate(items, req.next_token.as_deref(), size)?;
        Ok(ListServicesResponse { service_arns: Some(page.items), next_token: page.next_token })
    }

    /// `ListServicesByNamespace`: the services of every cluster that register their tasks in a Cloud Map service of
    /// the namespace (`serviceRegistries`; Berth has no Service Connect), by name or ARN.
    pub fn list_services_by_namespace(
        &self,
        req: ListServicesByNamespaceRequest,
    ) -> Result<ListServicesByNamespaceResponse> {
        let size = page_size(req.max_results, 10, 100)?;
        let not_found =
            || ControlError::ecs(EcsException::NamespaceNotFoundException, "The specified namespace wasn't found.");
        let targets = self.service_targets().ok_or_else(not_found)?;
        let namespace = targets.namespace_arn(req.namespace.trim()).ok_or_else(not_found)?;
        let state = self.cache.read();
        let candidates: Vec<(String, Vec<String>)> = state
            .services
            .iter()
            .filter(|(_, v)| v.record.status() == Some(ServiceStatus::Active))
            .filter_map(|(_, v)| {
                let registries = v.record.service_registries.as_ref()?;
                let arns = registries.iter().filter_map(|r| r.registry_arn.clone()).collect::<Vec<_>>();
                (!arns.is_empty()).then(|| (v.record.arn.clone(), arns))
            })
            .collect();
        drop(state);
        let mut items: Vec<(String, String)> = candidates
            .into_iter()
            .filter(|(_, registries)| {
                registries.iter().any(|r| targets.registry(r).is_some_and(|info| info.namespace == namespace))
            })
            .map(|(arn, _)| (arn.clone(), arn))
            .collect();
        items.sort();
        let page = paginate(items, req.next_token.as_deref(), size)?;
        Ok(ListServicesByNamespaceResponse { service_arns: Some(page.items), next_token: page.next_token })
    }

    /// `UpdateService`: scale, reconfigure, or deploy a new task definition (or the same one with
    /// `forceNewDeployment`).
    pub async fn update_service(&self, req: UpdateServiceRequest) -> Result<UpdateServiceResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let record = self
            .write("updating a service", |state, now| {
                let v = find_service_in(state, &cluster, &req.service)?;
                if v.record.status() != Some(ServiceStatus::Active) {
                    return Err(not_active());
                }
                let mut record = (*v.record).clone();
                if let Some(controller) = &req.deployment_controller
                    && Some(controller) != record.deployment_controller.as_ref()
                    && controller.r#type != DeploymentControllerType::CodeDeploy
                {
                    return Err(ControlError::ecs(
                        EcsException::UnsupportedFeatureException,
                        "Changing the deployment controller of a service is not supported by Berth yet; create a new \
                         service.",
                    ));
                }
                if record.is_external() {
                    task_sets::check_external_update(&req, &record)?;
                }
                let strategy =
                    record.scheduling_strategy.and_then(Scheduling::to_wire).unwrap_or(SchedulingStrategy::Replica);
                // A daemon's desired count is its instances': the count DescribeServices shows is accepted back
                // unchanged (a described service fed to UpdateService), any other refused (COMPATIBILITY §2.6).
                let daemon_round_trip =
                    strategy == SchedulingStrategy::Daemon && req.desired_count == Some(record.desired_count);
                let mut redeploy_launch = false;
                if let Some(n) = req.desired_count.filter(|_| !daemon_round_trip) {
                    if strategy == SchedulingStrategy::Daemon {
                        return Err(ControlError::invalid(
                            "The DAEMON scheduling strategy does not support a desired count.",
                        ));
                    }
                    self.check_desired_count(n)?;
                    record.desired_count = n;
                }
                // A Fargate service keeps FARGATE unless a new strategy is given; an EC2 service cannot switch to
                // Fargate, but may take (or change) a strategy of node group providers.
                let fargate_service = record.launch_type == Some(TaskLaunchType::Fargate);
                let given = req.capacity_provider_strategy.as_deref().filter(|s| !s.is_empty());
                let launch = LaunchOptions {
                    // Without a new strategy the service keeps its launch type (never the cluster's default).
                    launch_type: given.is_none().then(|| {
                        record.launch_type.and_then(TaskLaunchType::to_wire).unwrap_or(LaunchType::Ec2)
                    }),
                    capacity_provider_strategy: given,
                    platform_version: req.platform_version.as_deref(),
                    volume_configurations: req.volume_configurations.as_ref().is_some_and(|v| !v.is_empty()),
                    network_configuration: req.network_configuration.as_ref(),
                    cluster: state.clusters.get(&cluster).map(|v| &*v.record),
                };
                let resolved = launch::check_options(&launch)?;
                if resolved.uses_node_groups() && strategy == SchedulingStrategy::Daemon {
                    return Err(ControlError::invalid(
                        "The DAEMON scheduling strategy does not support a capacity provider strategy.",
                    ));
                }
                if resolved.is_fargate() != fargate_service {
                    return Err(ControlError::ecs(
                        EcsException::UnsupportedFeatureException,
                        "Moving a service between the EC2 launch type and a Fargate capacity provider strategy is not supported by Berth yet; create a new service.",
                    ));
                }
                if let Some(items) = given {
                    // A new strategy (Fargate providers, or node group providers for an EC2 service) takes over.
                    let items: Vec<_> = items.iter().map(crate::records::StrategyItem::from_wire).collect();
                    redeploy_launch |= items != record.capacity_provider_strategy;
                    record.capacity_provider_strategy = items;
                }
                if fargate_service && req.platform_version.is_some() {
                    redeploy_launch |= resolved.platform_version != record.platform_version;
                    record.platform_version = resolved.platform_version.clone();
                }
                check_service_features(&service_features!(req))?;
                if let Some(config) = &req.deployment_configuration {
                    record.deployment_configuration = Some(normalise_deployment_configuration(Some(config), strategy)?);
                }
                if let Some(grace) = req.health_check_grace_period_seconds {
                    if grace < 0 {
                        return Err(ControlError::invalid("healthCheckGracePeriodSeconds must be 0 or more."));
                    }
                    record.health_check_grace_period_seconds = Some(grace);
                }
                let mut redeploy = req.force_new_deployment || redeploy_launch;
                if req.placement_constraints.is_some() || req.placement_strategy.is_some() {
                    let constraints =
                        req.placement_constraints.clone().or(record.placement_constraints.clone()).unwrap_or_default();
                    let strategies =
                        req.placement_strategy.clone().or(record.placement_strategy.clone()).unwrap_or_default();
                    validate_placement(strategy, &constraints, &strategies)?;
                    redeploy |= Some(&constraints) != record.placement_constraints.as_ref()
                        || Some(&strategies) != record.placement_strategy.as_ref();
                    record.placement_constraints = Some(constraints);
                    record.placement_strategy = Some(strategies);
                }
                let current_td = record.deployments.first().map(|d| d.task_definition.clone()).unwrap_or_default();
                let mut target_td = current_td.clone();
                // A new revision is checked as RunTask checks it; so is the running one against a new network
                // configuration (a deregistered running revision may go on running).
                let checked = match &req.task_definition {
                    Some(text) => Some((crate::task_definitions::find_task_definition_in(state, text)?, false)),
                    // A new network configuration, or (with a new revision) the one the service has.
                    None if launch.network_configuration.is_some() => {
                        Some((crate::task_definitions::find_task_definition_in(state, &current_td)?, true))
                    }
                    None => None,
                };
                if let Some((td, allow_inactive)) = checked {
                    let definition = &td.record.task_definition;
                    let launch_type = record.launch_type.and_then(TaskLaunchType::to_wire).unwrap_or(LaunchType::Ec2);
                    let network_configuration = launch.network_configuration.or(record.network_configuration.as_ref());
                    launch::check_task_definition(
                        &self.config.region,
                        definition,
                        definition.container_definitions.as_deref().unwrap_or_default(),
                        launch_type,
                        network_configuration,
                        allow_inactive,
                    )?;
                    crate::network::check(
                        &self.config.vpc,
                        self.security_groups(),
                        definition.network_mode,
                        network_configuration,
                        launch_type,
                    )?;
                    if let Some(given) = &req.network_configuration {
                        redeploy |= record.network_configuration.as_ref() != Some(given);
                        record.network_configuration = Some(given.clone());
                    }
                    if req.task_definition.is_some() {
                        target_td = definition.task_definition_arn.clone().unwrap_or_default();
                        redeploy |= target_td != current_td;
                    }
                }
                // Load balancers and registries: new ones (or the same against a new revision) are checked, and a
                // change deploys (each task keeps the ones it was placed with until it is replaced).
                let targets_given = req.load_balancers.is_some() || req.service_registries.is_some();
                if targets_given || target_td != current_td {
                    let load_balancers =
                        req.load_balancers.clone().or(record.load_balancers.clone()).unwrap_or_default();
                    let registries =
                        req.service_registries.clone().or(record.service_registries.clone()).unwrap_or_default();
                    let td = crate::task_definitions::find_task_definition_in(state, &target_td)?;
                    validate_targets::check(
                        self.service_targets().as_deref(),
                        state,
                        &cluster,
                        &record.name,
                        &load_balancers,
                        &registries,
                        &td.record.task_definition,
                    )?;
                    redeploy |= Some(&load_balancers) != record.load_balancers.as_ref()
                        && !(load_balancers.is_empty() && record.load_balancers.is_none());
                    redeploy |= Some(&registries) != record.service_registries.as_ref()
                        && !(registries.is_empty() && record.service_registries.is_none());
                    record.load_balancers = Some(load_balancers);
                    record.service_registries = Some(registries);
                }
                if let Some(flag) = req.enable_execute_command {
                    record.enable_execute_command = flag;
                }
                // Both apply to tasks started from now on; running tasks keep their tags, as in ECS.
                if let Some(propagate) = req.propagate_tags {
                    record.propagate_tags = TagPropagation::from_wire(propagate);
                }
                if let Some(flag) = req.enable_ecs_managed_tags {
                    record.enable_ecs_managed_tags = flag;
                }
                if !record.is_external() {
                    blue_green::config::check_pairing(
                        record.deployment_configuration.as_ref(),
                        record.load_balancers.as_deref().unwrap_or_default(),
                    )?;
                }
                if redeploy && !record.is_external() {
                    // A deployment that already runs its full desired count, healthy, is complete even if its
                    // stabilization window has not passed: it is the one to roll back to. (Not a blue/green
                    // deployment: it completes only once blue is gone.)
                    let previous_desired = v.record.desired_count;
                    let complete = blue_green::active(&record).is_none()
                        && record.deployments.first().is_some_and(|d| d.rollout_state == RolloutState::InProgress)
                            && previous_desired > 0
                            && {
                                let id = record.deployments[0].id.clone();
                                self.service_task_counts(state, &record, Some(&id)).running >= previous_desired
                            };
                    if complete {
                        machine::complete_deployment(&self.service_env(now), &mut record);
                    }
                    let deployment = self.service_env(now).new_deployment(&mut record, &target_td, false);
                    record.deployments.insert(0, deployment);
                    record.task_definition = Some(target_td);
                }
                if let Some(primary) = record.deployments.first_mut() {
                    primary.updated_at = now;
                }
                record.steady = false;
                replace_service(&cluster, v.mod_revision, record)
            })
            .await?;
        let state = self.cache.read();
        Ok(UpdateServiceResponse { service: Some(self.render_service(&state, &record, false)) })
    }

    /// `DeleteService`: the service drains (its tasks stop) and then becomes INACTIVE. A service scaled above 0
    /// needs `force`.
    pub async fn delete_service(&self, req: DeleteServiceRequest) -> Result<DeleteServiceResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let record = self
            .write("deleting a service", |state, now| {
                let v = find_service_in(state, &cluster, &req.service)?;
                let mut record = (*v.record).clone();
                match record.status() {
                    Some(ServiceStatus::Active) => {}
                    Some(ServiceStatus::Draining) => return Ok(Attempt::Done(record)),
                    _ => return Err(service_not_found()),
                }
                let daemon = record.is_daemon();
                if record.desired_count > 0 && !daemon && req.force != Some(true) {
                    return Err(ControlError::invalid(
                        "The service cannot be stopped while it is scaled above 0. Scale it to 0 first, or delete it \
                     with force.",
                    ));
                }
                let live_task_sets = record.task_sets.iter().filter(|t| t.status != TaskSetStatus::Draining).count();
                if live_task_sets > 0 && req.force != Some(true) {
                    return Err(ControlError::invalid(format!(
                        "The service cannot be deleted while it has task sets ({live_task_sets}). Delete them first \
                         (DeleteTaskSet), or delete the service with force."
                    )));
                }
                for ts in record.task_sets.iter_mut().filter(|t| t.status != TaskSetStatus::Draining) {
                    ts.status = TaskSetStatus::Draining;
                    ts.updated_at = now;
                }
                record.set_status(ServiceStatus::Draining);
                record.desired_count = 0;
                record.steady = false;
                replace_service(&cluster, v.mod_revision, record)
            })
            .await?;
        let state = self.cache.read();
        Ok(DeleteServiceResponse { service: Some(self.render_service(&state, &record, false)) })
    }
}

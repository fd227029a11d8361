//! RunTask and StartTask: resolve, validate, place, and commit the tasks with their reservations in one
//! transaction.

use super::render_task;
use crate::cache::{State, Versioned};
use crate::placement::demand;
use crate::records::{
    ClientTokenRecord, ContainerState, InstanceRecord, Reservation, StoredTag, TaskDefinitionRecord, TaskRecord,
    Transition, keys,
};
use crate::status::{DesiredStatus, HealthState, InstanceStatus, TaskLaunchType, TaskStatus};
use crate::tags::TaskTagging;
use crate::{Control, ControlError, EcsException, Result, encode};
use berth_model::agent::ContainerSpec;
use berth_model::ecs::task_definition::{parse_task_cpu, parse_task_memory, static_host_port};
use berth_model::ecs::{
    ContainerDefinition, ContainerOverride, Failure, KeyValuePair, LaunchType, NetworkMode, PlacementConstraint,
    PlacementStrategy, PropagateTags, RunTaskRequest, RunTaskResponse, SettingName, StartTaskRequest,
    StartTaskResponse, Tag, Task, TaskOverride, TransportProtocol,
};
use berth_store::Txn;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

mod node_groups;

/// What a run needs after validation: the task definition, effective containers, and the scheduler's demand.
struct Prepared {
    td: Versioned<TaskDefinitionRecord>,
    containers: Vec<ContainerDefinition>,
    overrides: TaskOverride,
    reservation: Reservation,
    network_mode: NetworkMode,
    group: String,
    started_by: Option<String>,
    tags: Vec<Tag>,
    managed_tags: Vec<Tag>,
    launch_type: LaunchType,
    constraints: Vec<PlacementConstraint>,
    strategy: Vec<PlacementStrategy>,
    default_strategy: DefaultStrategy,
    enable_execute_command: bool,
    /// Where a service task is registered (its service's load balancers and registries), if anywhere.
    targets: Option<crate::records::TargetsRecord>,
    /// The awsvpc task's subnets and security groups.
    network: Option<crate::network::ResolvedNetwork>,
    /// How the tasks launch (launch type, Fargate strategy and platform version).
    launch: super::launch::Launch,
    /// Tasks each Fargate capacity provider already has in this run's service (for the strategy's split).
    provider_counts: BTreeMap<String, usize>,
    /// The Fargate task's ephemeral storage, GiB.
    ephemeral_storage_gib: Option<i32>,
}

/// How many times a placement places again after losing a compare-and-swap. Placements in flight see each
/// other's reservations, so a conflict means another write to the instance won (a placement or a report); many
/// concurrent placements packing one instance (binpack) each lose to every one before them, hence more than
/// [`crate::MAX_ATTEMPTS`].
pub(crate) const PLACEMENT_ATTEMPTS: usize = 64;

/// One placement attempt: chosen ARNs, failures, the closest match, the chosen (or candidate) instances' records,
/// and the ticket holding the reservations on the live state.
pub(crate) type Attempt =
    (Vec<String>, Vec<Failure>, Closest, Vec<Versioned<InstanceRecord>>, Option<crate::live_placement::Ticket>);

/// Takes (`sign` = 1) or gives back (`sign` = -1) a task's ephemeral storage on an instance that accounts it
/// (an agent that offered none keeps no account).
fn take_storage(instance: &mut InstanceRecord, gib: i64, sign: i64) {
    if let Some(offered) = instance.offered.ephemeral_storage_gib {
        let left = instance.remaining_ephemeral_storage_gib.unwrap_or(offered);
        instance.remaining_ephemeral_storage_gib = Some(left - sign * gib);
    }
}

/// The scheduler's failures in ECS's shape.
fn ecs_failures(failures: Vec<berth_scheduler::Failure>) -> Vec<Failure> {
    failures.into_iter().map(|f| Failure { arn: f.arn, reason: Some(f.reason), detail: f.detail }).collect()
}

/// ECS's message for a RunTask in a cluster without container instances.
pub(crate) const NO_INSTANCES: &str = "No Container Instances were found in your cluster.";

/// What a placement produced: the tasks, the failures, and the closest matching instance with why it did not
/// fit (when some task could not be placed).
pub(crate) type Placed = (Vec<Task>, Vec<Failure>, Closest);

/// The closest matching instance's ARN and why it did not fit.
pub(crate) type Closest = Option<(String, String)>;

/// Which default placement strategy applies when a request names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultStrategy {
    /// RunTask's: random.
    RunTask,
    /// Services': spread over availability zones, then instances.
    Service,
}

use super::launch::LaunchOptions;

/// The message for RunTask with `propagateTags: SERVICE` (the model: "An error will be received if you specify the
/// SERVICE option when running a task").
pub const RUN_TASK_PROPAGATE_SERVICE: &str = "propagateTags SERVICE is not valid for RunTask: a task run outside a service can only propagate tags from its task definition (TASK_DEFINITION) or none (NONE).";

/// ECS documents up to 128 letters, numbers, hyphens, underscores and forward slashes, but in practice takes more:
/// deploy tools have sent `startedBy: "ECS Deploy"` (a space) for years. Berth accepts any printable characters up
/// to 128 (docs/COMPATIBILITY.md).
pub(crate) fn validate_started_by(started_by: Option<&str>) -> Result<()> {
    if let Some(s) = started_by
        && (s.chars().count() > 128 || s.chars().any(char::is_control))
    {
        return Err(ControlError::invalid("startedBy can have up to 128 printable characters."));
    }
    Ok(())
}

fn validate_group(group: &str) -> Result<()> {
    if group.is_empty() || group.len() > 255 || !group.chars().all(|c| c.is_ascii_alphanumeric() || "-_:./".contains(c))
    {
        return Err(ControlError::invalid(
            "group can have up to 255 letters, numbers, hyphens, underscores, colons, periods and forward slashes.",
        ));
    }
    Ok(())
}

/// The most characters of JSON RunTask and StartTask accept in `overrides` (ECS: "A total of 8192 characters are
/// allowed for overrides. This limit includes the JSON formatting characters of the override structure.").
pub const MAX_OVERRIDES_CHARS: usize = 8192;

/// Checks the size of the overrides and the names of the environment variables they set.
fn validate_override_sizes(overrides: &TaskOverride) -> Result<()> {
    let size = serde_json::to_vec(overrides).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_OVERRIDES_CHARS {
        return Err(ControlError::invalid(format!(
            "Container Overrides length must be at most {MAX_OVERRIDES_CHARS}; the overrides given are {size} characters of JSON."
        )));
    }
    for o in overrides.container_overrides.iter().flatten() {
        for env in o.environment.iter().flatten() {
            if env.name.as_deref().is_none_or(str::is_empty) {
                return Err(ControlError::invalid(format!(
                    "Invalid 'environment' override for container '{}'. Environment variable names should not be null or empty.",
                    o.name.as_deref().unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}

/// Applies container overrides: command replaced, environment merged by name, cpu and memory replaced.
fn apply_overrides(
    containers: &[ContainerDefinition],
    overrides: &[ContainerOverride],
) -> Result<Vec<ContainerDefinition>> {
    for o in overrides {
        let name = o.name.as_deref().unwrap_or_default();
        if !containers.iter().any(|c| c.name.as_deref() == Some(name)) {
            return Err(ControlError::invalid(format!(
                "Override for container named {name} is not a container in the TaskDefinition."
            )));
        }
        if o.environment_files.as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(ControlError::ecs(
                EcsException::UnsupportedFeatureException,
                crate::support::ENVIRONMENT_FILES,
            ));
        }
    }
    let mut out = Vec::with_capacity(containers.len());
    for c in containers {
        let mut c = c.clone();
        for o in overrides.iter().filter(|o| o.name == c.name) {
            if let Some(command) = &o.command {
                c.command = Some(command.clone());
            }
            if let Some(env) = &o.environment {
                let mut merged: Vec<KeyValuePair> = c
                    .environment
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| !env.iter().any(|n| n.name == e.name))
                    .collect();
                merged.extend(env.iter().cloned());
                c.environment = Some(merged);
            }
            if let Some(cpu) = o.cpu {
                if cpu < 0 {
                    return Err(ControlError::invalid(format!(
                        "Invalid cpu override for container {}.",
                        o.name.as_deref().unwrap_or_default()
                    )));
                }
                c.cpu = cpu;
            }
            if let Some(memory) = o.memory {
                if memory < berth_model::ecs::task_definition::MIN_CONTAINER_MEMORY_MIB {
                    return Err(ControlError::invalid(format!(
                        "Invalid memory override for container {}.",
                        o.name.as_deref().unwrap_or_default()
                    )));
                }
                c.memory = Some(memory);
            }
            if let Some(reservation) = o.memory_reservation {
                if reservation < berth_model::ecs::task_definition::MIN_CONTAINER_MEMORY_MIB {
                    return Err(ControlError::invalid(format!(
                        "Invalid 'memoryReservation' override for container '{}'. It must be at least {} MiB.",
                        o.name.as_deref().unwrap_or_default(),
                        berth_model::ecs::task_definition::MIN_CONTAINER_MEMORY_MIB
                    )));
                }
                c.memory_reservation = Some(reservation);
            }
            if let (Some(m), Some(r)) = (c.memory, c.memory_reservation)
                && r > m
            {
                return Err(ControlError::invalid(format!(
                    "The memoryReservation override for container {} is greater than its memory.",
                    o.name.as_deref().unwrap_or_default()
                )));
            }
        }
        out.push(c);
    }
    Ok(out)
}

/// What a task holds on its instance: task-level cpu/memory when set, else the containers' sums; static ports.
pub fn build_demand(
    containers: &[ContainerDefinition],
    network_mode: NetworkMode,
    task_cpu: Option<i32>,
    task_memory: Option<i32>,
) -> Reservation {
    let cpu = task_cpu.map(i64::from).unwrap_or_else(|| containers.iter().map(|c| i64::from(c.cpu)).sum());
    let memory = task_memory
        .map(i64::from)
        .unwrap_or_else(|| containers.iter().map(|c| i64::from(c.memory_reservation.or(c.memory).unwrap_or(0))).sum());
    let mut reservation = Reservation { cpu, memory, ..Default::default() };
    // An awsvpc task's ports are on its own address: it holds none of the host's, but those it publishes there
    // (Berth's `berth.publish` label).
    if network_mode == NetworkMode::Awsvpc {
        for published in containers.iter().flat_map(berth_model::published_ports::of) {
            match published.protocol {
                TransportProtocol::Tcp => reservation.tcp_ports.push(published.host_port),
                TransportProtocol::Udp => reservation.udp_ports.push(published.host_port),
            }
        }
    }
    let containers = if network_mode == NetworkMode::Awsvpc { &[][..] } else { containers };
    for c in containers {
        for pm in c.port_mappings.iter().flatten() {
            let Some(port) = static_host_port(pm, network_mode).and_then(|p| u16::try_from(p).ok()) else { continue };
            match pm.protocol.unwrap_or(TransportProtocol::Tcp) {
                TransportProtocol::Tcp => reservation.tcp_ports.push(port),
                TransportProtocol::Udp => reservation.udp_ports.push(port),
            }
        }
    }
    reservation
}

/// Gives every `awslogs` container without a `mode` option the account's `defaultLogDriverMode` (ECS's default
/// has been `non-blocking` since June 2025), as ECS does when it starts the task.
fn apply_default_log_driver_mode(containers: &mut [ContainerDefinition], mode: &str) {
    for c in containers.iter_mut() {
        if let Some(log) = c.log_configuration.as_mut()
            && log.log_driver == berth_model::ecs::LogDriver::Awslogs
        {
            let options = log.options.get_or_insert_with(Default::default);
            if options.get("mode").is_none_or(|m| m.is_empty()) {
                options.insert("mode".into(), mode.to_string());
            }
        }
    }
}

fn fingerprint(req: &impl serde::Serialize) -> String {
    let bytes = serde_json::to_vec(req).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

impl Control {
    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        task_definition: &str,
        overrides: Option<&TaskOverride>,
        group: Option<&str>,
        started_by: Option<&str>,
        tagging: TaskTagging<'_>,
        cluster: &str,
        launch: &super::launch::Launch,
        network_configuration: Option<&berth_model::ecs::NetworkConfiguration>,
        constraints: &[PlacementConstraint],
        strategy: &[PlacementStrategy],
        allow_inactive: bool,
    ) -> Result<Prepared> {
        let launch_type = launch.launch_type;
        if launch.is_fargate() {
            super::fargate::check_placement(constraints, strategy)?;
        }
        let td = self.find_task_definition(task_definition)?;
        let definition = &td.record.task_definition;
        let network_mode = definition.network_mode.unwrap_or(NetworkMode::Bridge);
        let overrides = overrides.cloned().unwrap_or_default();
        validate_override_sizes(&overrides)?;
        let mut containers = apply_overrides(
            definition.container_definitions.as_deref().unwrap_or_default(),
            overrides.container_overrides.as_deref().unwrap_or_default(),
        )?;
        let default_mode =
            self.effective_account_setting(SettingName::DefaultLogDriverMode, &self.root_principal()).value;
        apply_default_log_driver_mode(&mut containers, default_mode.as_deref().unwrap_or("non-blocking"));
        super::launch::check_task_definition(
            &self.config.region,
            definition,
            &containers,
            launch_type,
            network_configuration,
            allow_inactive,
        )?;
        let network = crate::network::check(
            &self.config.vpc,
            self.security_groups(),
            definition.network_mode,
            network_configuration,
            launch_type,
        )?;
        let task_cpu = match overrides.cpu.as_deref() {
            Some(text) => {
                Some(parse_task_cpu(text).ok_or_else(|| ControlError::invalid("Invalid 'cpu' override for task."))?)
            }
            None => definition.cpu.as_deref().and_then(parse_task_cpu),
        };
        let task_memory = match overrides.memory.as_deref() {
            Some(text) => Some(
                parse_task_memory(text).ok_or_else(|| ControlError::invalid("Invalid 'memory' override for task."))?,
            ),
            None => definition.memory.as_deref().and_then(parse_task_memory),
        };
        // The effective containers and task size follow the rules RegisterTaskDefinition applies.
        berth_model::ecs::task_definition::validate_resources(&containers, task_cpu, task_memory)
            .map_err(|e| ControlError::invalid(e.message))?;
        let family = definition.family.clone().unwrap_or_default();
        let group = group.map(str::to_string).unwrap_or_else(|| format!("family:{family}"));
        validate_group(&group)?;
        validate_started_by(started_by)?;
        let tags = tagging.user_tags(&td.record.tags)?;
        let managed_tags = tagging.managed_tags(cluster);
        let mut reservation = build_demand(&containers, network_mode, task_cpu, task_memory);
        let mut all_constraints = crate::placement::task_definition_constraints(definition);
        all_constraints.extend(constraints.iter().cloned());
        all_constraints.extend(network.as_ref().map(crate::network::zone_constraint));
        let fargate = launch.is_fargate();
        if fargate {
            all_constraints.extend(super::fargate::architecture_constraint(definition));
        }
        let ephemeral_storage_gib = fargate.then(|| {
            definition
                .ephemeral_storage
                .as_ref()
                .map(|e| e.size_in_gi_b)
                .unwrap_or(berth_model::ecs::task_definition::fargate::DEFAULT_EPHEMERAL_STORAGE_GIB)
        });
        // A FARGATE task reserves its ephemeral storage on the Fargate capacity it is placed on.
        reservation.ephemeral_storage_gib = ephemeral_storage_gib.map(i64::from).unwrap_or(0);
        Ok(Prepared {
            td,
            containers,
            overrides,
            reservation,
            network_mode,
            group,
            started_by: started_by.map(str::to_string),
            tags,
            managed_tags,
            launch_type,
            constraints: all_constraints,
            strategy: strategy.to_vec(),
            default_strategy: if fargate { DefaultStrategy::Service } else { DefaultStrategy::RunTask },
            enable_execute_command: false,
            targets: None,
            network,
            launch: launch.clone(),
            provider_counts: BTreeMap::new(),
            ephemeral_storage_gib,
        })
    }

    fn new_task_record(
        &self,
        cluster: &str,
        instance: &InstanceRecord,
        p: &Prepared,
        provider: Option<String>,
        now: f64,
    ) -> TaskRecord {
        let id = berth_model::ids::new_hex_id();
        let task_arn = self.arn(&format!("task/{cluster}/{id}"));
        let specs: Vec<ContainerSpec> = p
            .containers
            .iter()
            .map(|def| ContainerSpec {
                container_arn: self.arn(&format!("container/{cluster}/{id}/{}", berth_model::ids::new_uuid())),
                definition: def.clone(),
            })
            .collect();
        let definition = &p.td.record.task_definition;
        let mut overrides = p.overrides.clone();
        let mut container_overrides = overrides.container_overrides.take().unwrap_or_default();
        for def in &p.containers {
            if !container_overrides.iter().any(|o| o.name == def.name) {
                container_overrides.push(ContainerOverride { name: def.name.clone(), ..Default::default() });
            }
        }
        overrides.container_overrides = Some(container_overrides);
        overrides.inference_accelerator_overrides.get_or_insert_with(Vec::new);
        let attr = |name: &str| instance.attribute(name).map(str::to_string);
        let tags: Vec<Tag> = p.tags.iter().chain(&p.managed_tags).cloned().collect();
        TaskRecord {
            arn: task_arn,
            cluster: cluster.to_string(),
            cluster_arn: self.arn(&format!("cluster/{cluster}")),
            instance_id: instance.id.clone(),
            task_definition_arn: definition.task_definition_arn.clone().unwrap_or_default(),
            group: Some(p.group.clone()),
            started_by: p.started_by.clone(),
            launch_type: TaskLaunchType::from_wire(p.launch_type),
            last_status: TaskStatus::Provisioning,
            desired_status: DesiredStatus::Running,
            health_status: HealthState::Unknown,
            enable_execute_command: p.enable_execute_command,
            availability_zone: attr("ecs.availability-zone"),
            cpu_architecture: attr("ecs.cpu-architecture"),
            overrides: Some(overrides),
            tags: StoredTag::from_wire(&tags),
            version: 1,
            created_at: now,
            container_states: specs.iter().map(|_| ContainerState::pending()).collect(),
            containers: specs,
            network_mode: p.network_mode,
            volumes: p.td.record.task_definition.volumes.clone().unwrap_or_default(),
            reservation: p.reservation.clone(),
            transitions: vec![Transition { status: TaskStatus::Provisioning, at: now }],
            targets: p.targets.clone(),
            instance_cluster: (instance.cluster != cluster).then(|| instance.cluster.clone()),
            platform_version: p.launch.platform_version.clone(),
            capacity_provider_name: provider,
            ephemeral_storage_gib: p.ephemeral_storage_gib,
            ..Default::default()
        }
    }

    /// Places `count` tasks (on `only` instances if given) and commits them. Returns the tasks and the failures.
    ///
    /// No lock is held across the write: the placement reserves on the cluster's live state (where concurrent
    /// placements see it at once), the transaction compare-and-swaps the chosen instances' records, and on a
    /// conflict the reservation is given back, the cache catches up with the write that won, and it places again.
    async fn place_and_commit(
        &self,
        cluster: &str,
        p: &Prepared,
        count: usize,
        only: Option<&[(String, String)]>,
        token: Option<(String, String)>,
    ) -> Result<Placed> {
        let definition = &p.td.record.task_definition;
        let needs = crate::task_definitions::host_needs(definition, &p.containers);
        let demand = demand(
            &p.reservation,
            &p.group,
            &p.constraints,
            &p.strategy,
            crate::placement::task_required_attributes(definition, &needs),
            p.default_strategy,
        )?;
        let (tasks, failures, closest, _) = self
            .write_with(
                "placing tasks",
                PLACEMENT_ATTEMPTS,
                |state, now| {
                    if only.is_none() && p.launch.uses_node_groups() {
                        let (placed, failures, closest, chosen, tickets, providers, waiting) =
                            self.place_on_node_groups(state, cluster, p, &demand, &needs, count)?;
                        let (txn, tasks, failures) = self.build_placement_txn(
                            state,
                            cluster,
                            p,
                            &chosen,
                            &placed,
                            Some(providers.as_slice()),
                            &waiting,
                            failures,
                            now,
                            token.clone(),
                        )?;
                        if tasks.is_empty() && token.is_none() {
                            return Ok(crate::optimistic::Attempt::Done((tasks, failures, closest, tickets)));
                        }
                        return Ok(crate::optimistic::Attempt::Commit(txn, (tasks, failures, closest, tickets)));
                    }
                    let (placed, failures, closest, chosen, ticket) = match only {
                        Some(keys) => self.place_on(state, keys, &demand, &needs, count),
                        None if p.launch.is_fargate() => {
                            let (placed, failures, _, chosen, ticket) =
                                self.place_live(state, super::fargate::POOL, &demand, &needs, count)?;
                            let failures = super::fargate::capacity_failures(
                                failures,
                                placed.len() < count,
                                &p.td.record.task_definition,
                            );
                            (placed, failures, None, chosen, ticket)
                        }
                        None => self.place_live(state, cluster, &demand, &needs, count)?,
                    };
                    let (txn, tasks, failures) = self.build_placement_txn(
                        state,
                        cluster,
                        p,
                        &chosen,
                        &placed,
                        None,
                        &[],
                        failures,
                        now,
                        token.clone(),
                    )?;
                    let tickets: Vec<_> = ticket.into_iter().collect();
                    if tasks.is_empty() && token.is_none() {
                        return Ok(crate::optimistic::Attempt::Done((tasks, failures, closest, tickets)));
                    }
                    // A lost race drops the tickets, which gives the reservations back.
                    Ok(crate::optimistic::Attempt::Commit(txn, (tasks, failures, closest, tickets)))
                },
                |(_, _, _, tickets), revision| {
                    for ticket in std::mem::take(tickets) {
                        ticket.committed(revision);
                    }
                },
            )
            .await?;
        Ok((tasks, failures, closest))
    }

    /// Places on the cluster's live placement state; returns the chosen ARNs, failures, closest match, the chosen
    /// instances' records, and the ticket holding the reservations.
    pub(crate) fn place_live(
        &self,
        state: &State,
        cluster: &str,
        demand: &berth_scheduler::TaskDemand,
        needs: &berth_model::host_access::HostNeeds,
        count: usize,
    ) -> Result<Attempt> {
        let pool = cluster == super::fargate::POOL;
        let Some(live) = state.placement_state(cluster) else {
            return if pool { Ok(Default::default()) } else { Err(ControlError::invalid(NO_INSTANCES)) };
        };
        let mut guard = crate::live_placement::lock(live);
        if guard.is_empty() {
            drop(guard);
            return if pool { Ok(Default::default()) } else { Err(ControlError::invalid(NO_INSTANCES)) };
        }
        let connected = |id: &str| self.agents.is_connected(id, self.config.agent_timeout);
        let (outcome, ticket) = guard.place(live, demand, count, needs, &connected);
        let (mut failures, mut closest) = (ecs_failures(outcome.failures), outcome.closest);
        if !failures.is_empty() || closest.is_some() {
            // The attributes of the instances named, as the scheduler saw them (host paths gated).
            let generic = berth_scheduler::FailureReason::MissingAttribute.detail();
            let named = failures
                .iter()
                .filter(|f| f.detail.as_deref() == generic)
                .filter_map(|f| f.arn.clone())
                .chain(closest.as_ref().map(|(arn, _)| arn.clone()));
            let mut attributes = BTreeMap::new();
            for arn in named {
                if let Some(mut instance) = guard.instance(&arn) {
                    crate::placement::gate_host_paths(&mut instance, needs);
                    attributes.insert(arn, instance.attributes);
                }
            }
            crate::placement::explain_missing(&attributes, demand, needs, &mut failures, &mut closest);
        }
        // The Fargate pool's instances are of several clusters: each is found by its ARN's cluster.
        let chosen = outcome
            .placed
            .iter()
            .filter_map(|arn| {
                let id = guard.id_of(arn)?;
                let owner = crate::instances::parse_instance_ref(cluster, arn).map(|(c, _)| c).unwrap_or_default();
                state.instances.get(&(owner, id.to_string())).cloned()
            })
            .collect();
        drop(guard);
        Ok((outcome.placed, failures, closest, chosen, Some(ticket)))
    }

    /// Places on the named instances only (StartTask, a DAEMON service's instance): a view of just them (their
    /// live views, with the placements in flight), then the result is reserved on the live state too.
    fn place_on(
        &self,
        state: &State,
        keys: &[(String, String)],
        demand: &berth_scheduler::TaskDemand,
        needs: &berth_model::host_access::HostNeeds,
        count: usize,
    ) -> Attempt {
        let candidates: Vec<Versioned<InstanceRecord>> =
            keys.iter().filter_map(|k| state.instances.get(k).cloned()).collect();
        let instances: Vec<_> = candidates
            .iter()
            .map(|v| {
                let arn = v.record.arn.as_str();
                let live =
                    state.placement_state(&v.record.cluster).and_then(|l| crate::live_placement::lock(l).instance(arn));
                let mut instance = live.unwrap_or_else(|| crate::placement::record_instance(state, &v.record));
                instance.agent_connected =
                    instance.agent_connected && self.agents.is_connected(&v.record.id, self.config.agent_timeout);
                crate::placement::gate_host_paths(&mut instance, needs);
                instance
            })
            .collect();
        let attributes: BTreeMap<_, _> = instances.iter().map(|i| (i.arn.clone(), i.attributes.clone())).collect();
        let mut view = berth_scheduler::ClusterState::new(instances);
        let placement = view.place(demand, count, &mut rand::rng());
        let mut closest = if placement.placed.len() < count { view.closest_match(demand) } else { None };
        let mut failures = ecs_failures(placement.failures);
        crate::placement::explain_missing(&attributes, demand, needs, &mut failures, &mut closest);
        let cluster = candidates.first().map(|v| v.record.cluster.clone()).unwrap_or_default();
        let ticket = state
            .placement_state(&cluster)
            .map(|live| crate::live_placement::lock(live).reserve(live, &placement.placed, demand));
        (placement.placed, failures, closest, candidates, ticket)
    }

    #[allow(clippy::too_many_arguments)]
    fn build_placement_txn(
        &self,
        state: &State,
        cluster: &str,
        p: &Prepared,
        candidates: &[Versioned<InstanceRecord>],
        placed: &[String],
        providers: Option<&[String]>,
        waiting: &[String],
        failures: Vec<Failure>,
        now: f64,
        token: Option<(String, String)>,
    ) -> Result<(Txn, Vec<Task>, Vec<Failure>)> {
        let mut updated: BTreeMap<String, (i64, InstanceRecord)> = BTreeMap::new();
        let mut updated_slots: Vec<u32> = Vec::new();
        let mut failures = failures;
        let mut txn = Txn::new();
        let mut tasks = Vec::new();
        let providers = match providers {
            Some(providers) => providers.to_vec(),
            None if p.launch.is_fargate() => {
                super::fargate::split(&p.launch.strategy, &p.provider_counts, placed.len())
            }
            None => Vec::new(),
        };
        for (index, arn) in placed.iter().enumerate() {
            let Some(v) = candidates.iter().find(|v| v.record.arn == *arn) else {
                continue;
            };
            let entry = updated.entry(v.record.id.clone()).or_insert_with(|| (v.mod_revision, (*v.record).clone()));
            let instance = &mut entry.1;
            instance.remaining_cpu -= p.reservation.cpu;
            instance.remaining_memory -= p.reservation.memory;
            take_storage(instance, p.reservation.ephemeral_storage_gib, 1);
            instance.task_tcp_ports.extend(p.reservation.tcp_ports.iter().copied());
            instance.task_udp_ports.extend(p.reservation.udp_ports.iter().copied());
            let mut record = self.new_task_record(cluster, instance, p, providers.get(index).cloned(), now);
            if let Some(network) = &p.network {
                match self.allocate_interface(state, &updated_slots, instance, network, &record) {
                    Some((interface, claim)) => {
                        if let Some((slot, key)) = claim {
                            instance.network_slot = Some(slot);
                            updated_slots.push(slot);
                            txn = txn.expect(key.clone(), 0).put(key, instance.arn.clone().into_bytes());
                        }
                        if let Ok(address) = interface.address.parse() {
                            instance.task_addresses.insert(address);
                            record.reservation.address = Some(address);
                        }
                        record.network = Some(interface);
                    }
                    None => {
                        let (cpu, memory) = (p.reservation.cpu, p.reservation.memory);
                        instance.remaining_cpu += cpu;
                        instance.remaining_memory += memory;
                        take_storage(instance, p.reservation.ephemeral_storage_gib, -1);
                        failures.push(Failure {
                            arn: Some(instance.arn.clone()),
                            reason: Some(crate::network::NO_ADDRESS.into()),
                            detail: Some("no free address in the instance's slice of the subnet".into()),
                        });
                        continue;
                    }
                }
            }
            let key = keys::task(cluster, crate::instances::task_id(&record));
            txn = txn.expect(key.clone(), 0).put(key, encode(&record)?);
            tasks.push(render_task(&record, true));
        }
        for (id, (revision, record)) in updated {
            let key = keys::instance(&record.cluster, &id);
            txn = txn.expect(key.clone(), revision).put(key, encode(&record)?);
        }
        // Tasks waiting for capacity (managed scaling): PROVISIONING, on no instance, placed by the managed scaling
        // controller once an instance of their provider's group has room.
        let nowhere = InstanceRecord { cluster: cluster.to_string(), ..Default::default() };
        for provider in waiting {
            let mut record = self.new_task_record(cluster, &nowhere, p, Some(provider.clone()), now);
            record.waiting = Some(crate::records::WaitingPlacement {
                constraints: p.constraints.clone(),
                strategy: p.strategy.clone(),
                service: p.default_strategy == DefaultStrategy::Service,
            });
            let key = keys::task(cluster, crate::instances::task_id(&record));
            txn = txn.expect(key.clone(), 0).put(key, encode(&record)?);
            tasks.push(render_task(&record, true));
        }
        if let Some((key, fingerprint)) = token {
            let record = ClientTokenRecord {
                fingerprint,
                resource_arns: tasks.iter().filter_map(|t| t.task_arn.clone()).collect(),
                created_at: now,
            };
            // An expired record of the same token is replaced (compare-and-swap on the one this run saw).
            let expected = state.tokens.get(&key).map(|v| v.mod_revision).unwrap_or(0);
            txn = txn.expect(key.clone(), expected).put(key, encode(&record)?);
        }
        Ok((txn, tasks, failures))
    }

    /// The interface of an awsvpc task placed on `instance`: a subnet in its zone, the next free address of its
    /// slice; and, when the instance has no slot yet, the slot it takes with the key that claims it. `None` when
    /// the slice is full or every slot is taken.
    fn allocate_interface(
        &self,
        state: &State,
        claimed_here: &[u32],
        instance: &InstanceRecord,
        network: &crate::network::ResolvedNetwork,
        record: &TaskRecord,
    ) -> Option<(berth_model::agent::TaskNetwork, Option<(u32, String)>)> {
        let (slot, claim) = match instance.network_slot {
            Some(slot) => (slot, None),
            None => {
                let taken =
                    state.instances.values().filter_map(|v| v.record.network_slot).chain(claimed_here.iter().copied());
                let slot = crate::network::free_slot(taken)?;
                (slot, Some((slot, keys::network_slot(slot))))
            }
        };
        let subnet = crate::network::subnet_for(network, instance.attribute("ecs.availability-zone"))?;
        let (slice, address) = crate::network::free_address(&self.config.vpc, subnet, slot, &instance.task_addresses)?;
        let mut interface =
            crate::network::interface(&self.config.vpc, subnet, slice, address, record.id(), &network.security_groups);
        interface.security_groups = network.security_groups.clone();
        Some((interface, claim))
    }

    /// `RunTask`.
    pub async fn run_task(&self, req: RunTaskRequest) -> Result<RunTaskResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let count = req.count.unwrap_or(1);
        if !(1..=10).contains(&count) {
            return Err(ControlError::invalid(format!("count must be between 1 and 10, got {count}.")));
        }
        let cluster_record = self.cache.read().clusters.get(&cluster).map(|v| v.record.clone());
        let launch = super::launch::check_options(&LaunchOptions {
            launch_type: req.launch_type,
            capacity_provider_strategy: req.capacity_provider_strategy.as_deref(),
            platform_version: req.platform_version.as_deref(),
            volume_configurations: req.volume_configurations.as_ref().is_some_and(|v| !v.is_empty()),
            network_configuration: req.network_configuration.as_ref(),
            cluster: cluster_record.as_deref(),
        })?;
        if req.propagate_tags == Some(PropagateTags::Service) {
            return Err(ControlError::invalid(RUN_TASK_PROPAGATE_SERVICE));
        }
        let token = match &req.client_token {
            Some(t) if t.is_empty() || t.len() > 64 || !t.is_ascii() => {
                return Err(ControlError::invalid("clientToken must be 1 to 64 ASCII characters."));
            }
            Some(t) => {
                let key = keys::token("RunTask", &hex::encode(Sha256::digest(format!("{cluster}/{t}").as_bytes())));
                let mut unkeyed = req.clone();
                unkeyed.client_token = None;
                let fp = fingerprint(&unkeyed);
                let existing = self.cache.read().tokens.get(&key).cloned();
                if let Some(existing) = existing
                    && !self.token_expired(&existing.record)
                {
                    return self.replay_run_task(&cluster, &existing.record, &fp);
                }
                Some((key, fp))
            }
            None => None,
        };
        let mut p = self.prepare(
            &req.task_definition,
            req.overrides.as_ref(),
            req.group.as_deref(),
            req.started_by.as_deref(),
            TaskTagging {
                request: req.tags.as_deref().unwrap_or_default(),
                propagate: req.propagate_tags,
                service: None,
                managed: req.enable_ecs_managed_tags,
            },
            &cluster,
            &launch,
            req.network_configuration.as_ref(),
            req.placement_constraints.as_deref().unwrap_or_default(),
            req.placement_strategy.as_deref().unwrap_or_default(),
            false,
        )?;
        p.enable_execute_command = req.enable_execute_command;
        let (tasks, failures, _) = self.place_and_commit(&cluster, &p, count as usize, None, token).await?;
        for arn in tasks.iter().filter_map(|t| t.task_arn.as_deref()) {
            tracing::debug!(target: "berth_timing", task = %arn, step = %"placed");
        }
        Ok(RunTaskResponse { tasks: Some(tasks), failures: Some(failures) })
    }

    /// Whether a client token record is older than the idempotency window ([`crate::ControlConfig`]).
    pub(crate) fn token_expired(&self, record: &ClientTokenRecord) -> bool {
        self.now() - record.created_at >= self.config.client_token_ttl.as_secs_f64()
    }

    fn replay_run_task(
        &self,
        cluster: &str,
        existing: &ClientTokenRecord,
        fingerprint: &str,
    ) -> Result<RunTaskResponse> {
        if existing.fingerprint != fingerprint {
            return Err(ControlError::Ecs {
                exception: EcsException::ConflictException,
                message: "The clientToken is already in use with a different RunTask request.".into(),
                resource_ids: existing.resource_arns.clone(),
            });
        }
        let state = self.cache.read();
        let tasks = existing
            .resource_arns
            .iter()
            .filter_map(|arn| arn.rsplit('/').next())
            .filter_map(|id| state.tasks.get(&(cluster.to_string(), id.to_string())))
            .map(|v| render_task(&v.record, true))
            .collect();
        Ok(RunTaskResponse { tasks: Some(tasks), failures: Some(Vec::new()) })
    }

    /// `StartTask`: one task on each named container instance.
    pub async fn start_task(&self, req: StartTaskRequest) -> Result<StartTaskResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        if req.container_instances.is_empty() || req.container_instances.len() > 10 {
            return Err(ControlError::invalid("containerInstances must name between 1 and 10 container instances."));
        }
        let mut p = self.prepare(
            &req.task_definition,
            req.overrides.as_ref(),
            req.group.as_deref(),
            req.started_by.as_deref(),
            TaskTagging {
                request: req.tags.as_deref().unwrap_or_default(),
                propagate: req.propagate_tags,
                service: None,
                managed: req.enable_ecs_managed_tags,
            },
            &cluster,
            &super::launch::check_options(&LaunchOptions {
                launch_type: Some(LaunchType::Ec2),
                volume_configurations: req.volume_configurations.as_ref().is_some_and(|v| !v.is_empty()),
                network_configuration: req.network_configuration.as_ref(),
                ..Default::default()
            })?,
            req.network_configuration.as_ref(),
            &[],
            &[],
            false,
        )?;
        p.enable_execute_command = req.enable_execute_command;
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for text in &req.container_instances {
            let key = crate::instances::parse_instance_ref(&cluster, text)?;
            let known = self
                .cache
                .read()
                .instances
                .get(&key)
                .is_some_and(|v| v.record.status() != Some(InstanceStatus::Inactive));
            if !known {
                failures.push(self.missing("container-instance", &cluster, text));
                continue;
            }
            let (placed, failed, _) =
                self.place_and_commit(&cluster, &p, 1, Some(std::slice::from_ref(&key)), None).await?;
            tasks.extend(placed);
            failures.extend(failed);
        }
        Ok(StartTaskResponse { tasks: Some(tasks), failures: Some(failures) })
    }

    /// Places `count` tasks of a service's deployment (on `only` one instance for DAEMON services); returns the
    /// tasks, the failures, and the closest matching instance with why it did not fit.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn place_service_tasks(
        &self,
        cluster: &str,
        task_definition: &str,
        group: &str,
        started_by: &str,
        tagging: TaskTagging<'_>,
        constraints: &[PlacementConstraint],
        strategy: &[PlacementStrategy],
        count: usize,
        only: Option<(String, String)>,
        enable_execute_command: bool,
        targets: Option<crate::records::TargetsRecord>,
        network_configuration: Option<&berth_model::ecs::NetworkConfiguration>,
        launch: &super::launch::Launch,
    ) -> Result<Placed> {
        let mut p = self.prepare(
            task_definition,
            None,
            Some(group),
            Some(started_by),
            tagging,
            cluster,
            launch,
            network_configuration,
            constraints,
            strategy,
            true,
        )?;
        p.default_strategy = DefaultStrategy::Service;
        if !launch.strategy.is_empty() {
            // The strategy's split counts the service's tasks that have not stopped.
            let state = self.cache.read();
            for task in state.tasks_in_group(cluster, group) {
                if task.record.last_status() != Some(TaskStatus::Stopped)
                    && let Some(provider) = &task.record.capacity_provider_name
                {
                    *p.provider_counts.entry(provider.clone()).or_default() += 1;
                }
            }
        }
        p.enable_execute_command = enable_execute_command;
        p.targets = targets;
        let only = only.map(|k| vec![k]);
        self.place_and_commit(cluster, &p, count, only.as_deref(), None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::ecs::PortMapping;

    fn container(
        name: &str,
        cpu: i32,
        memory: Option<i32>,
        reservation: Option<i32>,
        ports: Vec<(i32, i32)>,
    ) -> ContainerDefinition {
        ContainerDefinition {
            name: Some(name.into()),
            image: Some("x".into()),
            cpu,
            memory,
            memory_reservation: reservation,
            port_mappings: Some(
                ports
                    .into_iter()
                    .map(|(c, h)| PortMapping { container_port: Some(c), host_port: Some(h), ..Default::default() })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn demand_sums_containers_and_keeps_static_ports() {
        let cs = vec![
            container("a", 256, Some(512), None, vec![(80, 8080), (81, 0)]),
            container("b", 128, Some(512), Some(128), vec![]),
        ];
        let d = build_demand(&cs, NetworkMode::Bridge, None, None);
        assert_eq!((d.cpu, d.memory, d.tcp_ports.clone()), (384, 640, vec![8080]));
        let d = build_demand(&cs, NetworkMode::Bridge, Some(1024), Some(2048));
        assert_eq!((d.cpu, d.memory), (1024, 2048));
        let d = build_demand(&cs, NetworkMode::Host, None, None);
        assert_eq!(d.tcp_ports, vec![8080, 81]);
        let d = build_demand(&cs, NetworkMode::Awsvpc, None, None);
        assert!(d.tcp_ports.is_empty(), "an awsvpc task's ports are its own address's");
    }

    #[test]
    fn an_awsvpc_task_holds_the_host_ports_it_publishes() {
        let mut web = container("web", 0, Some(64), None, vec![(80, 0)]);
        web.docker_labels = Some([(berth_model::published_ports::LABEL.to_string(), "8080:80".to_string())].into());
        let d = build_demand(&[web], NetworkMode::Awsvpc, None, None);
        assert_eq!((d.tcp_ports, d.udp_ports), (vec![8080], vec![]));
    }

    #[test]
    fn overrides_merge_environment_and_check_names() {
        let mut c = container("a", 0, Some(64), None, vec![]);
        c.environment = Some(vec![
            KeyValuePair { name: Some("A".into()), value: Some("1".into()) },
            KeyValuePair { name: Some("B".into()), value: Some("2".into()) },
        ]);
        let o = ContainerOverride {
            name: Some("a".into()),
            environment: Some(vec![KeyValuePair { name: Some("B".into()), value: Some("3".into()) }]),
            command: Some(vec!["run".into()]),
            ..Default::default()
        };
        let out = apply_overrides(&[c.clone()], &[o]).unwrap();
        let env = out[0].environment.clone().unwrap();
        assert_eq!(env.len(), 2);
        assert!(env.iter().any(|e| e.name.as_deref() == Some("B") && e.value.as_deref() == Some("3")));
        assert_eq!(out[0].command, Some(vec!["run".into()]));
        let bad = ContainerOverride { name: Some("ghost".into()), ..Default::default() };
        let err = apply_overrides(&[c], &[bad]).unwrap_err();
        assert!(
            err.to_string().contains("Override for container named ghost is not a container in the TaskDefinition.")
        );
    }
}

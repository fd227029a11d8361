//! The bridge between the control plane's records and the pure scheduler.

use crate::cache::State;
use crate::records::{InstanceRecord, Reservation};
use crate::status::TaskStatus;
use crate::{Control, ControlError, Result};
use berth_model::ecs::{PlacementConstraint, PlacementStrategy};
use berth_model::host_access::{HOST_PATH, HostNeeds, parse_prefixes, prefixes_allow};
use berth_scheduler::{FailureReason, Instance, InstanceStatus, Resources, TaskDemand};
use std::collections::{BTreeMap, BTreeSet};

/// The attributes a task needs: the task definition's `requiresAttributes` and what its (overridden) containers
/// need from the host, each once.
pub(crate) fn task_required_attributes(
    definition: &berth_model::ecs::TaskDefinition,
    needs: &HostNeeds,
) -> Vec<String> {
    let mut out = crate::task_definitions::required_attributes(definition);
    for name in needs.attributes() {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Host paths are allowed by prefix, which `requiresAttributes` (names only) cannot say: for a task with host
/// paths, an instance whose advertised prefixes do not cover all of them is shown to the scheduler without
/// [`HOST_PATH`], so that it fails with `ATTRIBUTE` like any instance lacking a required attribute.
pub(crate) fn gate_host_paths(instance: &mut Instance, needs: &HostNeeds) {
    if needs.host_paths.is_empty() {
        return;
    }
    let allowed = instance.attributes.get(HOST_PATH).cloned().flatten().map(|v| parse_prefixes(&v)).unwrap_or_default();
    if !needs.host_paths.iter().all(|p| prefixes_allow(&allowed, p)) {
        instance.attributes.remove(HOST_PATH);
    }
}

/// Whether `instance` advertises host-path prefixes covering every host path the task needs (true when it needs
/// none): what [`gate_host_paths`] decides, without building the scheduler's view.
pub(crate) fn host_paths_allowed(instance: &InstanceRecord, needs: &HostNeeds) -> bool {
    if needs.host_paths.is_empty() {
        return true;
    }
    let value =
        crate::instances::all_attributes(instance).into_iter().rfind(|a| a.name == HOST_PATH).and_then(|a| a.value);
    let allowed = value.map(|v| parse_prefixes(&v)).unwrap_or_default();
    needs.host_paths.iter().all(|p| prefixes_allow(&allowed, p))
}

/// The required attributes `attributes` lacks, named for a failure's detail or a service event (with the host
/// paths when [`HOST_PATH`] is one of them).
pub(crate) fn missing_attributes(
    attributes: &BTreeMap<String, Option<String>>,
    demand: &TaskDemand,
    needs: &HostNeeds,
) -> String {
    demand
        .required_attributes
        .iter()
        .filter(|a| !attributes.contains_key(*a))
        .map(|a| {
            if a == HOST_PATH {
                let paths: Vec<&str> = needs.host_paths.iter().map(String::as_str).collect();
                format!("{a} (host paths {})", paths.join(", "))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Names the missing attributes in `ATTRIBUTE` failures (ECS's own detail says only that one is missing) and in
/// the closest match's phrase.
pub(crate) fn explain_missing(
    instances: &BTreeMap<String, BTreeMap<String, Option<String>>>,
    demand: &TaskDemand,
    needs: &HostNeeds,
    failures: &mut [berth_model::ecs::Failure],
    closest: &mut Option<(String, String)>,
) {
    let generic = FailureReason::MissingAttribute.detail();
    for failure in failures.iter_mut() {
        if failure.detail.as_deref() != generic {
            continue;
        }
        let Some(attributes) = failure.arn.as_ref().and_then(|arn| instances.get(arn)) else { continue };
        let missing = missing_attributes(attributes, demand, needs);
        if !missing.is_empty() {
            failure.detail =
                Some(format!("The container instance is missing an attribute required by the task: {missing}."));
        }
    }
    if let Some((arn, phrase)) = closest
        && phrase == FailureReason::MissingAttribute.closest_match_phrase()
        && let Some(attributes) = instances.get(arn.as_str())
    {
        let missing = missing_attributes(attributes, demand, needs);
        if !missing.is_empty() {
            *phrase = format!("{phrase} ({missing})");
        }
    }
}

/// A task definition's placement constraints, in the request's shape.
pub(crate) fn task_definition_constraints(definition: &berth_model::ecs::TaskDefinition) -> Vec<PlacementConstraint> {
    definition
        .placement_constraints
        .iter()
        .flatten()
        .map(|c| PlacementConstraint {
            r#type: c.r#type.and_then(|t| berth_model::ecs::PlacementConstraintType::parse(t.as_str())),
            expression: c.expression.clone(),
        })
        .collect()
}

/// The scheduler's demand for one task, with the request's constraints and strategy parsed (errors are
/// `InvalidParameterException`, pointing at what is wrong).
pub(crate) fn demand(
    reservation: &Reservation,
    group: &str,
    constraints: &[PlacementConstraint],
    strategy: &[PlacementStrategy],
    required_attributes: Vec<String>,
    default_strategy: crate::tasks::DefaultStrategy,
) -> Result<TaskDemand> {
    if constraints.len() > 10 {
        return Err(ControlError::invalid("A task can have at most 10 placement constraints."));
    }
    if strategy.len() > 5 {
        return Err(ControlError::invalid("A task can have at most 5 placement strategies."));
    }
    let constraints = constraints
        .iter()
        .map(|c| {
            let kind = c.r#type.map(|t| t.as_str()).unwrap_or_default();
            berth_scheduler::parse_constraint(kind, c.expression.as_deref())
                .map_err(|e| ControlError::invalid(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let strategy = if strategy.is_empty() {
        match default_strategy {
            crate::tasks::DefaultStrategy::RunTask => berth_scheduler::default_run_task_strategy(),
            crate::tasks::DefaultStrategy::Service => berth_scheduler::default_service_strategy(),
        }
    } else {
        strategy
            .iter()
            .map(|s| {
                let kind = s.r#type.map(|t| t.as_str()).unwrap_or_default();
                berth_scheduler::parse_strategy(kind, s.field.as_deref())
                    .map_err(|e| ControlError::invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?
    };
    Ok(TaskDemand {
        cpu: reservation.cpu,
        memory: reservation.memory,
        ephemeral_storage_gib: reservation.ephemeral_storage_gib,
        tcp_ports: reservation.tcp_ports.clone(),
        udp_ports: reservation.udp_ports.clone(),
        group: group.to_string(),
        constraints,
        strategy,
        required_attributes,
    })
}

/// A container instance as the scheduler sees it: [`record_instance`] with the agent also heard from recently
/// (in memory, [`crate::agents::AgentHub::is_connected`]).
pub(crate) fn to_scheduler_instance(state: &State, record: &InstanceRecord, control: &Control) -> Instance {
    let mut instance = record_instance(state, record);
    instance.agent_connected =
        instance.agent_connected && control.agents.is_connected(&record.id, control.config.agent_timeout);
    instance
}

/// The attribute the scheduler sees an instance's node group as (capacity provider placement constrains on it).
pub(crate) const NODE_GROUP_ATTRIBUTE: &str = "berth.node-group";

/// A container instance as the scheduler sees it, from the cache alone: `agent_connected` is the record's flag
/// (the live placement state keeps this, and overlays what the agent hub knows at placement time).
pub(crate) fn record_instance(state: &State, record: &InstanceRecord) -> Instance {
    let status = match record.status {
        // A new instance whose daemon tasks are starting takes no other task yet (`daemons::gate`).
        crate::status::InstanceStatus::Active if record.daemon_gate_until.is_some() => InstanceStatus::Registering,
        crate::status::InstanceStatus::Active => InstanceStatus::Active,
        crate::status::InstanceStatus::Draining => InstanceStatus::Draining,
        crate::status::InstanceStatus::Registering => InstanceStatus::Registering,
        crate::status::InstanceStatus::Deregistering => InstanceStatus::Deregistering,
        crate::status::InstanceStatus::RegistrationFailed | crate::status::InstanceStatus::Inactive => {
            InstanceStatus::Inactive
        }
    };
    let mut running_tasks_count = 0;
    let mut task_groups: BTreeMap<String, u32> = BTreeMap::new();
    for task in state.tasks_on_instance(&record.id) {
        if task.record.last_status() == Some(TaskStatus::Stopped) {
            continue;
        }
        running_tasks_count += 1;
        if let Some(group) = &task.record.group {
            *task_groups.entry(group.clone()).or_default() += 1;
        }
    }
    let mut attributes: BTreeMap<String, Option<String>> =
        crate::instances::all_attributes(record).into_iter().map(|a| (a.name, a.value)).collect();
    // The node group is the agent's to say (`--node-group`), never an attribute a user puts.
    attributes.remove(NODE_GROUP_ATTRIBUTE);
    if let Some(group) = &record.node_group {
        attributes.insert(NODE_GROUP_ATTRIBUTE.to_string(), Some(group.clone()));
    }
    let used_tcp_ports: BTreeSet<u16> =
        record.offered.reserved_tcp_ports.iter().chain(&record.task_tcp_ports).copied().collect();
    let used_udp_ports: BTreeSet<u16> =
        record.offered.reserved_udp_ports.iter().chain(&record.task_udp_ports).copied().collect();
    Instance {
        arn: record.arn.clone(),
        id: record.id.clone(),
        status,
        agent_connected: record.agent_connected,
        agent_version: record.version_info.as_ref().and_then(|v| v.agent_version.clone()).unwrap_or_default(),
        ec2_instance_id: record.ec2_instance_id.clone().unwrap_or_default(),
        registered_at: record.registered_at,
        attributes,
        registered: Resources {
            cpu: record.offered.cpu,
            memory: record.offered.memory_mib,
            ephemeral_storage_gib: record.offered.ephemeral_storage_gib,
        },
        // Storage is accounted where the agent offered it (its record then has a remainder).
        remaining: Resources {
            cpu: record.remaining_cpu,
            memory: record.remaining_memory,
            ephemeral_storage_gib: record
                .offered
                .ephemeral_storage_gib
                .map(|offered| record.remaining_ephemeral_storage_gib.unwrap_or(offered)),
        },
        used_tcp_ports,
        used_udp_ports,
        running_tasks_count,
        task_groups,
    }
}

impl Control {
    /// The scheduler's view of one instance (for ListContainerInstances filters).
    pub(crate) fn scheduler_instance(&self, state: &State, record: &InstanceRecord) -> Instance {
        to_scheduler_instance(state, record, self)
    }
}

impl Control {
    /// Whether one task of `task_definition` fits on `instance` under the service's constraints (DAEMON services).
    pub(crate) fn daemon_fits(
        &self,
        state: &State,
        service: &crate::records::ServiceRecord,
        task_definition: &str,
        instance: &InstanceRecord,
    ) -> bool {
        let Ok((family, Some(revision))) = crate::task_definitions::parse_task_definition_ref(task_definition) else {
            return false;
        };
        let Some(td) = state.task_definitions.get(&(family, revision)) else { return false };
        let definition = &td.record.task_definition;
        let network_mode = definition.network_mode.unwrap_or(berth_model::ecs::NetworkMode::Bridge);
        let containers = definition.container_definitions.clone().unwrap_or_default();
        let needs = crate::task_definitions::host_needs(definition, &containers);
        let reservation = crate::tasks::build_demand(
            &containers,
            network_mode,
            definition.cpu.as_deref().and_then(berth_model::ecs::task_definition::parse_task_cpu),
            definition.memory.as_deref().and_then(berth_model::ecs::task_definition::parse_task_memory),
        );
        let mut constraints = task_definition_constraints(definition);
        constraints.extend(service.placement_constraints.iter().flatten().cloned());
        let group = crate::services::service_group(service.name.as_str());
        let Ok(demand) = demand(
            &reservation,
            &group,
            &constraints,
            &[],
            task_required_attributes(definition, &needs),
            crate::tasks::DefaultStrategy::Service,
        ) else {
            return false;
        };
        if !self.agents.is_connected(&instance.id, self.config.agent_timeout) || !host_paths_allowed(instance, &needs) {
            return false;
        }
        let arn = instance.arn.as_str();
        let Some(live) = state.placement.get(&instance.cluster) else { return false };
        matches!(crate::live_placement::lock(live).check(arn, &demand), Ok(None))
    }
}

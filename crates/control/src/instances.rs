//! Container instances: Register/Deregister, List, Describe, UpdateContainerInstancesState.

use crate::cache::{State, Versioned};
use crate::optimistic::Attempt;
use crate::paging::{page_size, paginate};
use crate::records::{AgentVersions, AttributeRecord, InstanceRecord, StoredTag, keys};
use crate::status::{AgentUpdateStatus, InstanceStatus, TaskStatus};
use crate::tags::validate_tags;
use crate::{Control, ControlError, Result, encode};
use berth_model::agent::AgentResources;
use berth_model::arn::{Arn, is_arn};
use berth_model::ecs::{
    Attribute, ContainerInstance, ContainerInstanceField, ContainerInstanceStatus, DeregisterContainerInstanceRequest,
    DeregisterContainerInstanceResponse, DescribeContainerInstancesRequest, DescribeContainerInstancesResponse,
    Failure, ListContainerInstancesRequest, ListContainerInstancesResponse, RegisterContainerInstanceRequest,
    RegisterContainerInstanceResponse, Resource, UpdateContainerInstancesStateRequest,
    UpdateContainerInstancesStateResponse, VersionInfo,
};
use berth_store::Txn;
use std::collections::BTreeSet;

/// The host ports ECS reserves on every instance by default (SSH, Docker, the ECS agent's ports).
pub const DEFAULT_RESERVED_TCP_PORTS: [u16; 5] = [22, 2375, 2376, 51678, 51679];

fn int_resource(name: &str, value: i64) -> Resource {
    Resource {
        name: Some(name.into()),
        r#type: Some("INTEGER".into()),
        integer_value: value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        ..Default::default()
    }
}

fn ports_resource(name: &str, ports: impl IntoIterator<Item = u16>) -> Resource {
    Resource {
        name: Some(name.into()),
        r#type: Some("STRINGSET".into()),
        string_set_value: Some(ports.into_iter().map(|p| p.to_string()).collect()),
        ..Default::default()
    }
}

/// `registeredResources` for what an agent offers.
pub(crate) fn registered_resources(offered: &AgentResources) -> Vec<Resource> {
    vec![
        int_resource("CPU", offered.cpu),
        int_resource("MEMORY", offered.memory_mib),
        ports_resource("PORTS", offered.reserved_tcp_ports.iter().copied()),
        ports_resource("PORTS_UDP", offered.reserved_udp_ports.iter().copied()),
    ]
}

/// Reads `totalResources` of a RegisterContainerInstance call into what the instance offers.
fn offered_from_resources(resources: &[Resource]) -> Result<AgentResources> {
    let mut offered = AgentResources { reserved_tcp_ports: DEFAULT_RESERVED_TCP_PORTS.to_vec(), ..Default::default() };
    for r in resources {
        let ports = |r: &Resource| -> Result<Vec<u16>> {
            r.string_set_value
                .iter()
                .flatten()
                .map(|p| {
                    p.parse::<u16>()
                        .map_err(|_| ControlError::invalid(format!("Invalid port {p:?} in totalResources.")))
                })
                .collect()
        };
        match r.name.as_deref() {
            Some("CPU") => offered.cpu = i64::from(r.integer_value),
            Some("MEMORY") => offered.memory_mib = i64::from(r.integer_value),
            Some("PORTS") => offered.reserved_tcp_ports = ports(r)?,
            Some("PORTS_UDP") => offered.reserved_udp_ports = ports(r)?,
            _ => {}
        }
    }
    if offered.cpu <= 0 || offered.memory_mib <= 0 {
        return Err(ControlError::invalid("totalResources must give positive CPU and MEMORY values."));
    }
    Ok(offered)
}

/// The agent's attributes and those set with PutAttributes (which win on a clash).
pub(crate) fn all_attributes(record: &InstanceRecord) -> Vec<Attribute> {
    let mut out: Vec<Attribute> = record
        .attributes
        .iter()
        .filter(|a| !record.custom_attributes.contains_key(&a.name))
        .map(AttributeRecord::to_wire)
        .collect();
    out.extend(record.custom_attributes.iter().map(|(name, value)| Attribute {
        name: name.clone(),
        value: value.clone(),
        ..Default::default()
    }));
    out
}

/// The (cluster, id) of a container instance named by id or ARN.
pub(crate) fn parse_instance_ref(cluster: &str, text: &str) -> Result<(String, String)> {
    if is_arn(text) {
        let arn = Arn::parse(text).map_err(|e| ControlError::invalid(e.to_string()))?;
        if arn.resource_type() != "container-instance" {
            return Err(ControlError::invalid(format!("{text} is not a container instance ARN.")));
        }
        return match arn.resource_path().as_slice() {
            [c, id] => Ok((c.to_string(), id.to_string())),
            [id] => Ok((cluster.to_string(), id.to_string())),
            _ => Err(ControlError::invalid(format!("{text} is not a container instance ARN."))),
        };
    }
    Ok((cluster.to_string(), text.to_string()))
}

impl Control {
    /// Renders an instance with its live counters and remaining resources.
    pub(crate) fn render_instance(&self, state: &State, record: &InstanceRecord, with_tags: bool) -> ContainerInstance {
        let (mut running, mut pending) = (0, 0);
        for task in state.tasks_on_instance(&record.id) {
            match task.record.last_status() {
                Some(TaskStatus::Running) => running += 1,
                Some(TaskStatus::Provisioning | TaskStatus::Pending | TaskStatus::Activating) => pending += 1,
                _ => {}
            }
        }
        let used_tcp: BTreeSet<u16> =
            record.offered.reserved_tcp_ports.iter().chain(&record.task_tcp_ports).copied().collect();
        let used_udp: BTreeSet<u16> =
            record.offered.reserved_udp_ports.iter().chain(&record.task_udp_ports).copied().collect();
        ContainerInstance {
            container_instance_arn: Some(record.arn.clone()),
            ec2_instance_id: record.ec2_instance_id.clone(),
            version: record.version,
            version_info: record.version_info.as_ref().map(AgentVersions::to_wire),
            remaining_resources: Some(vec![
                int_resource("CPU", record.remaining_cpu),
                int_resource("MEMORY", record.remaining_memory),
                ports_resource("PORTS", used_tcp),
                ports_resource("PORTS_UDP", used_udp),
            ]),
            registered_resources: Some(registered_resources(&record.offered)),
            status: Some(record.status.as_str().to_string()),
            status_reason: record.daemon_drain.clone(),
            agent_connected: record.agent_connected && self.agents.is_connected(&record.id, self.config.agent_timeout),
            running_tasks_count: running,
            pending_tasks_count: pending,
            agent_update_status: record.agent_update_status.and_then(AgentUpdateStatus::to_wire),
            attributes: Some(all_attributes(record)),
            registered_at: Some(record.registered_at),
            attachments: Some(Vec::new()),
            tags: with_tags.then(|| StoredTag::to_wire(&record.tags)),
            capacity_provider_name: record
                .node_group
                .as_deref()
                .and_then(|g| crate::capacity_providers::provider_of_group(state, g)),
            ..Default::default()
        }
    }

    /// A new or re-registered instance record, with its reservation recomputed from the tasks placed on it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build_instance_record(
        &self,
        state: &State,
        cluster: &str,
        id: &str,
        previous: Option<&InstanceRecord>,
        offered: AgentResources,
        hostname: &str,
        attributes: Vec<Attribute>,
        version: VersionInfo,
        token_sha256: String,
        tags: Vec<berth_model::ecs::Tag>,
    ) -> InstanceRecord {
        let (mut cpu, mut memory, mut storage) = (offered.cpu, offered.memory_mib, offered.ephemeral_storage_gib);
        let (mut tcp, mut udp, mut addresses) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for task in state.tasks_on_instance(id) {
            if task.record.released {
                continue;
            }
            let r = &task.record.reservation;
            cpu -= r.cpu;
            memory -= r.memory;
            storage = storage.map(|left| left - r.ephemeral_storage_gib);
            tcp.extend(r.tcp_ports.iter().copied());
            udp.extend(r.udp_ports.iter().copied());
            addresses.extend(r.address);
        }
        // A draining instance that re-registers stays draining.
        let status = match previous.and_then(InstanceRecord::status) {
            Some(InstanceStatus::Draining) => InstanceStatus::Draining,
            _ => InstanceStatus::Active,
        };
        InstanceRecord {
            arn: self.arn(&format!("container-instance/{cluster}/{id}")),
            ec2_instance_id: Some(hostname.to_string()),
            status,
            agent_connected: true,
            version: previous.map(|p| p.version + 1).unwrap_or(1),
            version_info: Some(AgentVersions::from_wire(&version)),
            agent_update_status: previous.and_then(|p| p.agent_update_status),
            attributes: attributes.iter().map(AttributeRecord::from_wire).collect(),
            registered_at: previous.map(|p| p.registered_at).unwrap_or_else(|| self.now()),
            tags: StoredTag::from_wire(&tags),
            cluster: cluster.to_string(),
            id: id.to_string(),
            offered,
            remaining_cpu: cpu,
            remaining_memory: memory,
            remaining_ephemeral_storage_gib: storage,
            task_tcp_ports: tcp,
            task_udp_ports: udp,
            network_slot: previous.and_then(|p| p.network_slot),
            task_addresses: addresses,
            host_address: previous.and_then(|p| p.host_address),
            token_sha256,
            secret_sha256: previous.map(|p| p.secret_sha256.clone()).unwrap_or_default(),
            custom_attributes: previous.map(|p| p.custom_attributes.clone()).unwrap_or_default(),
            self_update: false,
            agent_update: previous.and_then(|p| p.agent_update.clone()),
            fargate: false,
            node_group: None,
            daemon_gate_until: previous.and_then(|p| p.daemon_gate_until),
            daemon_drain: previous.and_then(|p| p.daemon_drain.clone()),
            daemon_replacement: previous.and_then(|p| p.daemon_replacement.clone()),
            assignment_epoch: previous.map(|p| p.assignment_epoch).unwrap_or(0),
        }
    }

    /// `RegisterContainerInstance` through the ECS API (agents use [`Control::register_agent`]).
    pub async fn register_container_instance(
        &self,
        req: RegisterContainerInstanceRequest,
    ) -> Result<RegisterContainerInstanceResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let offered = offered_from_resources(req.total_resources.as_deref().unwrap_or_default())?;
        let tags = req.tags.clone().unwrap_or_default();
        validate_tags(&tags)?;
        let rendered = self
            .write("registering a container instance", |state, _| {
                let previous = match &req.container_instance_arn {
                    Some(arn) => {
                        let key = parse_instance_ref(&cluster, arn)?;
                        Some(state.instances.get(&key).cloned().ok_or_else(|| {
                            ControlError::invalid(format!(
                                "Container instance {arn} is not registered in cluster {cluster}."
                            ))
                        })?)
                    }
                    None => None,
                };
                let id = previous.as_ref().map(|p| p.record.id.clone()).unwrap_or_else(berth_model::ids::new_hex_id);
                let mut record = self.build_instance_record(
                    state,
                    &cluster,
                    &id,
                    previous.as_ref().map(|p| &*p.record),
                    offered.clone(),
                    &id,
                    req.attributes.clone().unwrap_or_default(),
                    req.version_info.clone().unwrap_or_default(),
                    previous.as_ref().map(|p| p.record.token_sha256.clone()).unwrap_or_default(),
                    tags.clone(),
                );
                // An instance registered through the API has no Berth agent until one joins with its ARN.
                record.agent_connected = false;
                let key = keys::instance(&cluster, &id);
                let txn = Txn::new()
                    .expect(key.clone(), previous.as_ref().map(|p| p.mod_revision).unwrap_or(0))
                    .put(key, encode(&record)?);
                Ok(Attempt::Commit(txn, self.render_instance(state, &record, true)))
            })
            .await?;
        Ok(RegisterContainerInstanceResponse { container_instance: Some(rendered) })
    }

    /// `DeregisterContainerInstance`. With tasks still on it, `force` is required; its tasks are then stopped.
    pub async fn deregister_container_instance(
        &self,
        req: DeregisterContainerInstanceRequest,
    ) -> Result<DeregisterContainerInstanceResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let record = self
            .write("deregistering a container instance", |state, now| {
                let v = find_instance_in(state, &cluster, &req.container_instance)?;
                let active_tasks: Vec<_> = state
                    .tasks_on_instance(&v.record.id)
                    .filter(|t| t.record.last_status() != Some(TaskStatus::Stopped))
                    .collect();
                if !active_tasks.is_empty() && req.force != Some(true) {
                    return Err(ControlError::invalid(format!(
                        "The container instance has {} task(s) that are not stopped; stop them first or deregister with force.",
                        active_tasks.len()
                    )));
                }
                let mut record = (*v.record).clone();
                record.set_status(InstanceStatus::Inactive);
                record.agent_connected = false;
                record.version += 1;
                record.token_sha256 = String::new();
                let key = keys::instance(&cluster, &record.id);
                let mut txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
                for task in &active_tasks {
                    let mut t = (*task.record).clone();
                    crate::tasks::stop_record(
                        &mut t,
                        now,
                        "Container instance deregistration forced by user",
                        "UserInitiated",
                        true,
                    );
                    let key = keys::task(&t.cluster, task_id(&t));
                    txn = txn.expect(key.clone(), task.mod_revision).put(key, encode(&t)?);
                }
                Ok(Attempt::Commit(txn, record))
            })
            .await?;
        let state = self.cache.read();
        Ok(DeregisterContainerInstanceResponse {
            container_instance: Some(self.render_instance(&state, &record, true)),
        })
    }

    /// `ListContainerInstances`.
    pub fn list_container_instances(
        &self,
        req: ListContainerInstancesRequest,
    ) -> Result<ListContainerInstancesResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let size = page_size(req.max_results, 100, 100)?;
        let filter = match req.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(text) => {
                Some(berth_scheduler::parse_expression(text).map_err(|e| ControlError::invalid(e.to_string()))?)
            }
            None => None,
        };
        // A page starts after the token's instance and stops once full: the filter is evaluated for the page, not
        // for every instance of the cluster on every page.
        let after = crate::paging::decode_token(req.next_token.as_deref())?;
        let state = self.cache.read();
        let items = state
            .instances
            .range((cluster.clone(), after.clone().unwrap_or_default())..)
            .take_while(|((c, _), _)| *c == cluster)
            .filter(|((_, id), _)| after.as_deref().is_none_or(|a| id.as_str() > a))
            .filter(|(_, v)| {
                let status = v.record.status();
                match req.status {
                    Some(s) => status.is_some_and(|status| status.as_str() == s.as_str()),
                    None => status != Some(InstanceStatus::Inactive),
                }
            })
            .filter(|(_, v)| filter.as_ref().is_none_or(|f| f.matches(&self.scheduler_instance(&state, &v.record))))
            .map(|((_, id), v)| (id.clone(), v.record.arn.clone()));
        let page = paginate(items, req.next_token.as_deref(), size)?;
        drop(state);
        Ok(ListContainerInstancesResponse { container_instance_arns: Some(page.items), next_token: page.next_token })
    }

    /// `DescribeContainerInstances`.
    pub fn describe_container_instances(
        &self,
        req: DescribeContainerInstancesRequest,
    ) -> Result<DescribeContainerInstancesResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        if req.container_instances.is_empty() || req.container_instances.len() > 100 {
            return Err(ControlError::invalid("containerInstances must name between 1 and 100 container instances."));
        }
        let with_tags = req.include.iter().flatten().any(|f| *f == ContainerInstanceField::Tags);
        let state = self.cache.read();
        let mut instances = Vec::new();
        let mut failures = Vec::new();
        for text in &req.container_instances {
            let found = parse_instance_ref(&cluster, text).ok().and_then(|key| state.instances.get(&key).cloned());
            match found {
                Some(v) => instances.push(self.render_instance(&state, &v.record, with_tags)),
                None => failures.push(self.missing_in(&state, "container-instance", &cluster, text)),
            }
        }
        Ok(DescribeContainerInstancesResponse { container_instances: Some(instances), failures: Some(failures) })
    }

    /// `UpdateContainerInstancesState`: ACTIVE or DRAINING.
    pub async fn update_container_instances_state(
        &self,
        req: UpdateContainerInstancesStateRequest,
    ) -> Result<UpdateContainerInstancesStateResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        if !matches!(req.status, ContainerInstanceStatus::Active | ContainerInstanceStatus::Draining) {
            return Err(ControlError::invalid(format!(
                "Container instances can only be set to ACTIVE or DRAINING, not {}.",
                req.status
            )));
        }
        if req.container_instances.is_empty() || req.container_instances.len() > 10 {
            return Err(ControlError::invalid("containerInstances must name between 1 and 10 container instances."));
        }
        let mut updated = Vec::new();
        let mut failures = Vec::new();
        for text in &req.container_instances {
            // `Ok(record)` updated, `Err(None)` not found, `Err(Some(failure))` deregistered.
            let outcome = self
                .write("updating container instance state", |state, _| {
                    let Ok(v) = find_instance_in(state, &cluster, text) else {
                        return Ok(Attempt::Done(Err(None)));
                    };
                    let mut record = (*v.record).clone();
                    if record.status() == Some(InstanceStatus::Inactive) {
                        return Ok(Attempt::Done(Err(Some(Failure {
                            arn: Some(record.arn.clone()),
                            reason: Some("INACTIVE".into()),
                            detail: Some("The container instance is deregistered.".into()),
                        }))));
                    }
                    record.status = InstanceStatus::parse(req.status.as_str()).unwrap_or(record.status);
                    record.version += 1;
                    let key = keys::instance(&cluster, &record.id);
                    let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
                    Ok(Attempt::Commit(txn, Ok(record)))
                })
                .await?;
            match outcome {
                Ok(record) => {
                    let state = self.cache.read();
                    updated.push(self.render_instance(&state, &record, false));
                }
                Err(None) => failures.push(self.missing("container-instance", &cluster, text)),
                Err(Some(failure)) => failures.push(failure),
            }
        }
        Ok(UpdateContainerInstancesStateResponse { container_instances: Some(updated), failures: Some(failures) })
    }
}

/// The instance a request names (ARN or id) in `cluster`, from the cache state.
pub(crate) fn find_instance_in(state: &State, cluster: &str, text: &str) -> Result<Versioned<InstanceRecord>> {
    let key = parse_instance_ref(cluster, text)?;
    state.instances.get(&key).cloned().ok_or_else(|| {
        ControlError::invalid(format!("The referenced container instance {text} was not found in cluster {cluster}."))
    })
}

/// The id (last ARN segment) of a task record.
pub(crate) fn task_id(t: &crate::records::TaskRecord) -> &str {
    t.id()
}

//! Services behind load balancers and in Cloud Map: the [`ServiceTargets`] hook the server implements over ELBv2
//! and Cloud Map (this crate depends on neither), and the service scheduler's pass that keeps a service's
//! registrations in line with its tasks ([`sync`]).
//!
//! Level-triggered, like the rest of the scheduler: each pass computes which targets and registry instances the
//! service's tasks should have (every RUNNING task that should run, in the target groups and registries it was
//! placed with) and makes ELBv2 and Cloud Map agree: missing ones are registered, and ones no running task holds
//! are deregistered (a target group a service uses is the service's). `bridge`/`host` tasks are `instance` targets
//! (their container instance's `ec2InstanceId` and host port), awsvpc tasks `ip` targets (their own address and the
//! container port, [`target_of`]) and registry instances with their own address. A service task on its way out
//! (DEACTIVATING) is deregistered first and kept running by its agent until the target group's deregistration
//! delay has passed ([`held_for_draining`]); then it is marked drained and its agent stops it. A task counts as healthy for its
//! deployment only once all its targets are healthy; one whose target turns unhealthy after the service's
//! `healthCheckGracePeriodSeconds` is stopped with ELB's stop reason and replaced.

use super::env::Env;
use super::service_group;
use crate::cache::{State, Versioned};
use crate::records::{InstanceRecord, ServiceRecord, TargetsRecord, TaskRecord, keys};
use crate::status::{DesiredStatus, TaskStatus};
use crate::tasks::stop_record;
use crate::{Control, Result, encode};
use berth_model::ecs::NetworkMode;
use berth_store::Txn;
use futures::future::BoxFuture;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// What the service scheduler needs to know of a target group.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroupInfo {
    /// `instance` or `ip`.
    pub target_type: String,
    /// The load balancers that forward to it.
    pub load_balancers: Vec<String>,
    /// Its `deregistration_delay.timeout_seconds`.
    pub deregistration_delay: f64,
    /// Its targets that have not drained: id, port, draining.
    pub targets: Vec<(String, u16, bool)>,
}

/// A target's health, as DescribeTargetHealth would show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHealth {
    /// Not registered (or drained).
    NotRegistered,
    /// Registered, not yet decided (`initial`).
    Initial,
    /// Passing its health checks (or health checks are disabled: `unavailable`).
    Healthy,
    /// Failing: ELB's reason code and description.
    Unhealthy {
        /// E.g. `Target.ResponseCodeMismatch`.
        reason: String,
        /// E.g. `Health checks failed with these codes: [500]`.
        description: String,
    },
    /// Deregistered and draining, or in a group no load balancer uses.
    Other(String),
}

/// What the service scheduler needs to know of a service registry (a Cloud Map service).
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryInfo {
    /// Its ARN.
    pub arn: String,
    /// It registers SRV records (they need a port).
    pub srv: bool,
    /// It registers A (or AAAA) records.
    pub address_records: bool,
    /// Its instances: id and attributes.
    pub instances: Vec<(String, BTreeMap<String, String>)>,
    /// Its Cloud Map namespace's ARN.
    pub namespace: String,
}

/// What the service scheduler needs to know of a listener rule (or of a listener, for its default rule).
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerRuleInfo {
    /// The target groups of its forward action and their weights (empty when it does not forward).
    pub forward: Vec<(String, u32)>,
}

/// Where services register their tasks: ELBv2 target groups and Cloud Map services. The server implements it over
/// its `Elb` and `Discovery` ([`Control::set_service_targets`]).
pub trait ServiceTargets: Send + Sync + 'static {
    /// A target group by ARN; `None` when there is none.
    fn target_group(&self, arn: &str) -> Option<TargetGroupInfo>;
    /// A target's health.
    fn target_health(&self, target_group: &str, id: &str, port: u16) -> TargetHealth;
    /// Registers `instance` targets (id, port).
    fn register_targets(&self, target_group: String, targets: Vec<(String, u16)>) -> BoxFuture<'_, Result<(), String>>;
    /// Deregisters targets (they drain for the group's deregistration delay).
    fn deregister_targets(
        &self,
        target_group: String,
        targets: Vec<(String, u16)>,
    ) -> BoxFuture<'_, Result<(), String>>;
    /// A registry by ARN; `None` when there is none.
    fn registry(&self, arn: &str) -> Option<RegistryInfo>;
    /// The ARN of the Cloud Map namespace a name or an ARN names; `None` when there is none.
    fn namespace_arn(&self, name_or_arn: &str) -> Option<String>;
    /// Registers (or re-registers) a task in a registry with these attributes (`AWS_INSTANCE_IPV4`, ... included).
    fn register_instance(
        &self,
        registry: String,
        instance_id: String,
        attributes: BTreeMap<String, String>,
    ) -> BoxFuture<'_, Result<(), String>>;
    /// Deregisters a task from a registry (not registered: no error).
    fn deregister_instance(&self, registry: String, instance_id: String) -> BoxFuture<'_, Result<(), String>>;
    /// The security groups of every load balancer: an awsvpc task's ingress rule naming one of them lets the load
    /// balancers' traffic in (`network::ingress_members`).
    fn load_balancer_security_groups(&self) -> BTreeSet<String> {
        BTreeSet::new()
    }
    /// A listener rule by ARN (a listener's ARN stands for its default rule); `None` when there is none.
    fn listener_rule(&self, _arn: &str) -> Option<ListenerRuleInfo> {
        None
    }
    /// Makes a listener rule (or a listener's default rule) forward to exactly these target groups with these
    /// weights (blue/green deployments shift traffic this way).
    fn set_forward_weights(&self, rule: String, _weights: Vec<(String, u32)>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { Err(format!("listener rule {rule}: this server cannot change forward weights")) })
    }
}

/// The attribute that gives a container instance's host address (an agent's `--attribute berth.host-address=..`,
/// or PutAttributes); without it, the address its agent registered (`--host-address`, or the address it reaches
/// the server from), else the instance is taken to be this machine (127.0.0.1).
pub const HOST_ADDRESS_ATTRIBUTE: &str = "berth.host-address";

/// The address other hosts reach a container instance's published ports at.
pub fn host_address(instance: &InstanceRecord) -> Option<Ipv4Addr> {
    let custom = instance.custom_attributes.get(HOST_ADDRESS_ATTRIBUTE).and_then(|v| v.as_deref());
    match custom.or_else(|| instance.attribute(HOST_ADDRESS_ATTRIBUTE)) {
        Some(text) => text.parse().ok(),
        None => Some(instance.host_address.unwrap_or(Ipv4Addr::LOCALHOST)),
    }
}

/// How the stop reason of a task whose target failed its health checks begins.
pub const ELB_STOP_REASON_PREFIX: &str = "Task failed ELB health checks in (target-group ";

/// The stop reason of a task whose target failed its health checks.
pub fn elb_stop_reason(target_group: &str) -> String {
    format!("{ELB_STOP_REASON_PREFIX}{target_group})")
}

/// Whether a task's agent must keep it running although it should stop: it is a registered service task on its way
/// out (DEACTIVATING) that has not finished draining.
pub fn held_for_draining(task: &TaskRecord) -> bool {
    task.desired_status == DesiredStatus::Stopped
        && task.last_status == TaskStatus::Deactivating
        && task.targets.as_ref().is_some_and(|t| !t.drained)
}

/// The host port a task's container publishes for `container_port` (TCP), once its agent reported it.
pub fn host_port(task: &TaskRecord, container: &str, container_port: i32) -> Option<u16> {
    let index = task.containers.iter().position(|c| c.definition.name.as_deref() == Some(container))?;
    let state = task.container_states.get(index)?;
    state
        .network_bindings
        .iter()
        .filter(|b| b.protocol.is_none_or(|p| p == crate::records::Protocol::Tcp))
        .find(|b| b.container_port == Some(container_port))
        .and_then(|b| b.host_port)
        .and_then(|p| u16::try_from(p).ok())
}

/// The target a task's `container`:`port` is registered as: an awsvpc task by its own address and the container
/// port (an `ip` target), any other by its container instance's `ec2InstanceId` and the host port it published
/// (an `instance` target). `None` while that is not known yet.
pub fn target_of(
    task: &TaskRecord,
    instance: Option<&InstanceRecord>,
    container: &str,
    container_port: i32,
) -> Option<(String, u16)> {
    if task.network_mode == NetworkMode::Awsvpc {
        let network = task.network.as_ref()?;
        return Some((network.address.clone(), u16::try_from(container_port).ok()?));
    }
    Some((instance?.ec2_instance_id.clone()?, host_port(task, container, container_port)?))
}

/// Whether a task should be registered now: it runs and should, and is not on its way out.
fn should_be_registered(task: &TaskRecord) -> bool {
    task.last_status == TaskStatus::Running && task.desired_status == DesiredStatus::Running
}

/// The registry attributes ECS writes for a task.
fn registry_attributes(
    env: &Env,
    service: &ServiceRecord,
    task: &TaskRecord,
    instance: Option<&InstanceRecord>,
    address: Option<Ipv4Addr>,
    port: Option<u16>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(ip) = address {
        out.insert("AWS_INSTANCE_IPV4".to_string(), ip.to_string());
    }
    if let Some(port) = port {
        out.insert("AWS_INSTANCE_PORT".to_string(), port.to_string());
    }
    out.insert("ECS_CLUSTER_NAME".into(), service.cluster.clone());
    out.insert("ECS_SERVICE_NAME".into(), service.name.clone());
    let family = task.task_definition_arn.rsplit('/').next().and_then(|fr| fr.rsplit_once(':')).map(|(f, _)| f);
    if let Some(family) = family {
        out.insert("ECS_TASK_DEFINITION_FAMILY".into(), family.to_string());
    }
    if let Some(az) = &task.availability_zone {
        out.insert("AVAILABILITY_ZONE".into(), az.clone());
    }
    out.insert("REGION".into(), env.region.clone());
    let task_set = service.task_sets.iter().find(|t| task.started_by.as_deref() == Some(t.id.as_str()));
    if let Some(external_id) = task_set.and_then(|t| t.external_id.as_ref()) {
        out.insert("ECS_TASK_SET_EXTERNAL_ID".into(), external_id.clone());
    }
    if let Some(ec2) = instance.and_then(|i| i.ec2_instance_id.as_ref()) {
        out.insert("EC2_INSTANCE_ID".into(), ec2.clone());
    }
    out
}

/// What one pass decided for a service's registrations.
#[derive(Debug, Default)]
struct Wanted {
    /// Target group → targets that should be registered.
    targets: BTreeMap<String, BTreeSet<(String, u16)>>,
    /// Registry → task id → attributes.
    instances: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
}

/// The service's target groups and registries: its own and those its tasks were placed with.
fn groups_and_registries(
    service: &ServiceRecord,
    tasks: &[&Versioned<TaskRecord>],
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut groups = BTreeSet::new();
    let mut registries = BTreeSet::new();
    // An EXTERNAL service's target groups and registries are its task sets'.
    let set_lbs = service.task_sets.iter().flat_map(|t| t.load_balancers.iter());
    groups.extend(set_lbs.filter_map(|lb| lb.target_group_arn.clone()));
    let set_regs = service.task_sets.iter().flat_map(|t| t.service_registries.iter());
    registries.extend(set_regs.filter_map(|r| r.registry_arn.clone()));
    // Blue/green load balancers have a second (alternate) target group.
    let alternates = service.load_balancers.iter().flatten().filter_map(|lb| lb.advanced_configuration.as_ref());
    groups.extend(alternates.filter_map(|a| a.alternate_target_group_arn.clone()));
    let own_lbs = service.load_balancers.iter().flatten();
    let task_lbs = tasks.iter().filter_map(|t| t.record.targets.as_ref()).flat_map(|t| t.load_balancers.iter());
    groups.extend(own_lbs.chain(task_lbs).filter_map(|lb| lb.target_group_arn.clone()));
    let own_regs = service.service_registries.iter().flatten();
    let task_regs = tasks.iter().filter_map(|t| t.record.targets.as_ref()).flat_map(|t| t.service_registries.iter());
    registries.extend(own_regs.chain(task_regs).filter_map(|r| r.registry_arn.clone()));
    (groups, registries)
}

fn wanted(env: &Env, state: &State, service: &ServiceRecord, tasks: &[&Versioned<TaskRecord>]) -> Wanted {
    let mut out = Wanted::default();
    for t in tasks {
        let task = &t.record;
        let Some(targets) = task.targets.as_ref().filter(|_| should_be_registered(task)) else { continue };
        // An awsvpc task is reached at its own address, so it needs no container instance (FARGATE has none).
        let instance = state.instances.get(&(task.cluster.clone(), task.instance_id.clone())).map(|i| &*i.record);
        if instance.is_none() && task.network_mode != NetworkMode::Awsvpc {
            continue;
        }
        for lb in &targets.load_balancers {
            let (Some(tg), Some(container), Some(port)) = (&lb.target_group_arn, &lb.container_name, lb.container_port)
            else {
                continue;
            };
            let Some(target) = target_of(task, instance, container, port) else { continue };
            out.targets.entry(tg.clone()).or_default().insert(target);
        }
        for reg in &targets.service_registries {
            let Some(arn) = &reg.registry_arn else { continue };
            let (address, port) = if task.network_mode == NetworkMode::Awsvpc {
                let Some(address) = task.network.as_ref().and_then(|n| n.address.parse().ok()) else { continue };
                (Some(address), reg.port.or(reg.container_port).and_then(|p| u16::try_from(p).ok()))
            } else {
                let port = match (&reg.container_name, reg.container_port) {
                    (Some(c), Some(p)) => host_port(task, c, p),
                    _ => reg.port.and_then(|p| u16::try_from(p).ok()),
                };
                (instance.and_then(host_address), port)
            };
            let attrs = registry_attributes(env, service, task, instance, address, port);
            out.instances.entry(arn.clone()).or_default().insert(task.id().to_string(), attrs);
        }
    }
    out
}

/// One pass over a service's registrations: register, deregister, drain, check health (see the module doc).
pub(super) async fn sync(control: &Control, cluster: &str, name: &str) -> Result<()> {
    let Some(hook) = control.service_targets() else { return Ok(()) };
    let env = control.service_env(control.now());
    let now = env.now;
    let (service, service_revision, tasks, wanted, groups, registries) = {
        let state = control.cache.read();
        let Some(v) = state.services.get(&(cluster.to_string(), name.to_string())).cloned() else { return Ok(()) };
        let tasks: Vec<Versioned<TaskRecord>> = state
            .tasks_in_group(cluster, &service_group(name))
            .filter(|t| t.record.targets.is_some())
            .cloned()
            .collect();
        let refs: Vec<&Versioned<TaskRecord>> = tasks.iter().collect();
        let (groups, registries) = groups_and_registries(&v.record, &refs);
        if groups.is_empty() && registries.is_empty() {
            return Ok(());
        }
        let wanted = wanted(&env, &state, &v.record, &refs);
        ((*v.record).clone(), v.mod_revision, tasks, wanted, groups, registries)
    };
    let mut events: Vec<String> = Vec::new();
    let mut infos: BTreeMap<String, TargetGroupInfo> = BTreeMap::new();
    for tg in &groups {
        let Some(info) = hook.target_group(tg) else { continue };
        let want = wanted.targets.get(tg).cloned().unwrap_or_default();
        let missing: Vec<(String, u16)> = want
            .iter()
            .filter(|(id, port)| !info.targets.iter().any(|(i, p, draining)| i == id && p == port && !draining))
            .cloned()
            .collect();
        let extra: Vec<(String, u16)> = info
            .targets
            .iter()
            .filter(|(id, port, draining)| !draining && !want.contains(&(id.clone(), *port)))
            .map(|(id, port, _)| (id.clone(), *port))
            .collect();
        if !missing.is_empty() {
            match hook.register_targets(tg.clone(), missing.clone()).await {
                Ok(()) => events.push(format!("registered {} targets in (target-group {tg}).", missing.len())),
                Err(error) => tracing::warn!(service = %name, %tg, %error, "registering targets failed"),
            }
        }
        if !extra.is_empty() {
            match hook.deregister_targets(tg.clone(), extra.clone()).await {
                Ok(()) => events.push(format!("deregistered {} targets in (target-group {tg}).", extra.len())),
                Err(error) => tracing::warn!(service = %name, %tg, %error, "deregistering targets failed"),
            }
        }
        infos.insert(tg.clone(), info);
    }
    for arn in &registries {
        let Some(info) = hook.registry(arn) else { continue };
        let want = wanted.instances.get(arn).cloned().unwrap_or_default();
        for (id, attrs) in &want {
            if info.instances.iter().any(|(i, a)| i == id && a == attrs) {
                continue;
            }
            if let Err(error) = hook.register_instance(arn.clone(), id.clone(), attrs.clone()).await {
                tracing::warn!(service = %name, registry = %arn, task = %id, %error, "registering in Cloud Map failed");
            }
        }
        // This service's instances (by the attributes ECS writes) that no running task holds.
        let ours = |a: &BTreeMap<String, String>| {
            a.get("ECS_CLUSTER_NAME").map(String::as_str) == Some(cluster)
                && a.get("ECS_SERVICE_NAME").map(String::as_str) == Some(name)
        };
        for (id, _) in info.instances.iter().filter(|(id, a)| ours(a) && !want.contains_key(id)) {
            if let Err(error) = hook.deregister_instance(arn.clone(), id.clone()).await {
                tracing::warn!(service = %name, registry = %arn, task = %id, %error, "deregistering from Cloud Map failed");
            }
        }
    }

    // Task records: health, draining, and ELB health-check failures.
    let grace = f64::from(service.health_check_grace_period_seconds.unwrap_or(0));
    let mut txn = Txn::new();
    let mut writes = 0;
    let mut stopped = Vec::new();
    for t in &tasks {
        let mut task = (*t.record).clone();
        let Some(mut targets) = task.targets.clone() else { continue };
        let before = task.clone();
        if should_be_registered(&task) && targets.load_balanced() {
            let mut all_healthy = true;
            let mut failing: Option<(String, String, u16, String)> = None;
            for lb in &targets.load_balancers {
                let (Some(tg), Some(container), Some(port)) =
                    (&lb.target_group_arn, &lb.container_name, lb.container_port)
                else {
                    continue;
                };
                let instance =
                    control.cache.read().instances.get(&(task.cluster.clone(), task.instance_id.clone())).cloned();
                let Some((id, host)) = target_of(&task, instance.as_ref().map(|i| &*i.record), container, port) else {
                    all_healthy = false;
                    continue;
                };
                match hook.target_health(tg, &id, host) {
                    TargetHealth::Healthy => {}
                    TargetHealth::Unhealthy { description, .. } => {
                        all_healthy = false;
                        failing.get_or_insert((tg.clone(), id, host, description));
                    }
                    _ => all_healthy = false,
                }
            }
            let past_grace = task.started_at.is_none_or(|s| now >= s + grace);
            if let Some((tg, id, port, description)) = failing.filter(|_| past_grace) {
                // ECS names the instance of an `instance` target; an `ip` target's event has the port alone.
                let instance =
                    if task.network_mode == NetworkMode::Awsvpc { String::new() } else { format!("(instance {id}) ") };
                events.push(format!(
                    "{instance}(port {port}) is unhealthy in (target-group {tg}) due to (reason {description})."
                ));
                stop_record(&mut task, now, &elb_stop_reason(&tg), "ServiceSchedulerInitiated", false);
                stopped.push(task.id().to_string());
            }
            targets.healthy = all_healthy;
        }
        if held_for_draining(&task) {
            match targets.drain_until {
                None => {
                    // Deregistered in this pass (it no longer counts as wanted): it drains for the longest
                    // deregistration delay of the groups it was in that a load balancer uses.
                    let delay = targets
                        .load_balancers
                        .iter()
                        .filter_map(|lb| lb.target_group_arn.as_ref())
                        .filter_map(|tg| infos.get(tg))
                        .filter(|info| !info.load_balancers.is_empty())
                        .map(|info| info.deregistration_delay)
                        .fold(0.0, f64::max);
                    targets.drain_until = Some(now + delay);
                    targets.drained = delay <= 0.0;
                }
                Some(until) if now >= until => targets.drained = true,
                Some(_) => {}
            }
        }
        task.targets = Some(targets);
        if task != before {
            // The end of draining is a change its agent acts on (it may stop the task now).
            if task.targets.as_ref().map(|t| t.drained) != before.targets.as_ref().map(|t| t.drained) {
                task.version += 1;
            }
            let key = keys::task(&task.cluster, task.id());
            txn = txn.expect(key.clone(), t.mod_revision).put(key, encode(&task)?);
            writes += 1;
        }
    }
    if !stopped.is_empty() {
        let ids: Vec<String> = stopped.iter().map(|id| format!("(task {id})")).collect();
        events.push(format!("has stopped {} running tasks: {}.", stopped.len(), ids.join(" ")));
    }
    if !events.is_empty() {
        let mut record = service.clone();
        for event in events {
            env.push_event(&mut record, event);
        }
        record.steady = record.steady && stopped.is_empty();
        let key = keys::service(cluster, name);
        txn = txn.expect(key.clone(), service_revision).put(key, encode(&record)?);
        writes += 1;
    }
    if writes > 0 {
        // A conflict (a report or a user change meanwhile) is repaired by the next pass.
        control.commit(txn, "recording service targets").await?;
    }
    Ok(())
}

/// The [`TargetsRecord`] a new task of `service` starts with (`None` when it has no load balancers or registries,
/// or the server has no [`ServiceTargets`]).
pub fn new_targets_record(control: &Control, service: &ServiceRecord) -> Option<TargetsRecord> {
    // A blue/green service's new tasks register on green's side during a deployment, else on the production side.
    let side = super::blue_green::progress::placement_side(service);
    let load_balancers =
        super::blue_green::progress::load_balancers_on(service.load_balancers.as_deref().unwrap_or_default(), side);
    let service_registries = service.service_registries.clone().unwrap_or_default();
    if (load_balancers.is_empty() && service_registries.is_empty()) || control.service_targets().is_none() {
        return None;
    }
    Some(TargetsRecord { load_balancers, service_registries, ..Default::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Binding, ContainerState, Protocol};
    use crate::services::machine::is_healthy_running;
    use berth_model::agent::ContainerSpec;
    use berth_model::ecs::{ContainerDefinition, LoadBalancer};

    fn task(last: TaskStatus, desired: DesiredStatus, targets: Option<TargetsRecord>) -> TaskRecord {
        let mut state = ContainerState::pending();
        state.network_bindings = vec![Binding {
            bind_ip: None,
            container_port: Some(8080),
            host_port: Some(32768),
            protocol: Some(Protocol::Tcp),
            container_port_range: None,
            host_port_range: None,
        }];
        TaskRecord {
            last_status: last,
            desired_status: desired,
            containers: vec![ContainerSpec {
                container_arn: "c".into(),
                definition: ContainerDefinition { name: Some("app".into()), ..Default::default() },
            }],
            container_states: vec![state],
            targets,
            ..Default::default()
        }
    }

    fn balanced(healthy: bool) -> TargetsRecord {
        TargetsRecord {
            load_balancers: vec![LoadBalancer { target_group_arn: Some("tg".into()), ..Default::default() }],
            healthy,
            ..Default::default()
        }
    }

    #[test]
    fn host_ports_come_from_the_reported_bindings() {
        let t = task(TaskStatus::Running, DesiredStatus::Running, None);
        assert_eq!(host_port(&t, "app", 8080), Some(32768));
        assert_eq!(host_port(&t, "app", 80), None);
        assert_eq!(host_port(&t, "other", 8080), None);
    }

    #[test]
    fn awsvpc_tasks_are_ip_targets_at_their_own_address_and_container_port() {
        let mut t = task(TaskStatus::Running, DesiredStatus::Running, None);
        let instance = InstanceRecord { ec2_instance_id: Some("i-host".into()), ..Default::default() };
        assert_eq!(target_of(&t, Some(&instance), "app", 8080), Some(("i-host".into(), 32768)));
        assert_eq!(target_of(&t, None, "app", 8080), None, "an instance target needs its instance");
        t.network_mode = NetworkMode::Awsvpc;
        assert_eq!(target_of(&t, None, "app", 8080), None, "no interface yet");
        t.network = Some(berth_model::agent::TaskNetwork { address: "172.31.0.5".into(), ..Default::default() });
        assert_eq!(target_of(&t, None, "app", 8080), Some(("172.31.0.5".into(), 8080)));
        assert_eq!(target_of(&t, Some(&instance), "app", 9090), Some(("172.31.0.5".into(), 9090)));
    }

    #[test]
    fn a_load_balanced_task_counts_once_its_targets_are_healthy() {
        assert!(is_healthy_running(&task(TaskStatus::Running, DesiredStatus::Running, None)));
        assert!(!is_healthy_running(&task(TaskStatus::Running, DesiredStatus::Running, Some(balanced(false)))));
        assert!(is_healthy_running(&task(TaskStatus::Running, DesiredStatus::Running, Some(balanced(true)))));
        // Only registries: no health gate.
        assert!(is_healthy_running(&task(TaskStatus::Running, DesiredStatus::Running, Some(TargetsRecord::default()))));
    }

    #[test]
    fn a_registered_task_on_its_way_out_is_held_until_drained() {
        let leaving = task(TaskStatus::Deactivating, DesiredStatus::Stopped, Some(balanced(true)));
        assert!(held_for_draining(&leaving));
        let mut drained = leaving.clone();
        drained.targets.as_mut().unwrap().drained = true;
        assert!(!held_for_draining(&drained));
        assert!(!held_for_draining(&task(TaskStatus::Deactivating, DesiredStatus::Stopped, None)));
        assert!(!held_for_draining(&task(TaskStatus::Pending, DesiredStatus::Stopped, Some(balanced(false)))));
    }
}

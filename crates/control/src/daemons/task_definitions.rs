//! Daemon task definitions: Register, Describe, Delete, List.
//!
//! A daemon container definition is a subset of a task's, so a daemon task definition is checked by turning it
//! into the task definition its tasks run ([`as_task_definition`]: `bridge` network mode, the daemon's `pidMode` and
//! `ipcMode` `shared` as `host`) and running the task definition rules on that; what only the daemon shape has
//! (`logDriverVolumeConfiguration` volumes) is refused at registration with the reason.

use super::records::{DaemonFamilyRecord, DaemonTaskDefinitionRecord, keys};
use crate::cache::{State, Versioned};
use crate::optimistic::Attempt;
use crate::paging::{page_size, paginate_ordered};
use crate::tags::validate_tags;
use crate::{Control, ControlError, EcsException, Result, encode};
use berth_model::arn::{Arn, is_arn};
use berth_model::ecs::task_definition::{validate_family, validate_register};
use berth_model::ecs::{
    DaemonIpcMode, DaemonPidMode, DaemonTaskDefinition, DaemonTaskDefinitionRevisionFilter, DaemonTaskDefinitionStatus,
    DaemonTaskDefinitionStatusFilter, DaemonTaskDefinitionSummary, DeleteDaemonTaskDefinitionRequest,
    DeleteDaemonTaskDefinitionResponse, DescribeDaemonTaskDefinitionRequest, DescribeDaemonTaskDefinitionResponse,
    ListDaemonTaskDefinitionsRequest, ListDaemonTaskDefinitionsResponse, RegisterDaemonTaskDefinitionRequest,
    RegisterDaemonTaskDefinitionResponse, RegisterTaskDefinitionRequest, SortOrder, TaskDefinition,
};
use berth_store::Txn;
use serde_json::{Value, json};

/// ECS's limit on the size of a task definition: 64 KiB of JSON.
const MAX_BYTES: usize = 64 * 1024;

/// The ARN resource type of daemon task definitions.
pub const RESOURCE: &str = "daemon-task-definition";

/// Whether an ARN names a daemon task definition (a daemon task's `taskDefinitionArn`).
pub fn is_daemon_task_definition_arn(arn: &str) -> bool {
    arn.split(':').nth(5).is_some_and(|resource| resource.starts_with("daemon-task-definition/"))
}

fn pid_mode(mode: Option<DaemonPidMode>) -> Value {
    match mode {
        Some(DaemonPidMode::Shared) => json!("host"),
        _ => Value::Null,
    }
}

fn ipc_mode(mode: Option<DaemonIpcMode>) -> Value {
    match mode {
        Some(DaemonIpcMode::Shared) => json!("host"),
        Some(DaemonIpcMode::None) => json!("none"),
        None => Value::Null,
    }
}

/// The members the daemon shapes share with the task definition shapes, with the daemon-only ones mapped.
fn task_members(mut value: Value, pid: Value, ipc: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        for member in ["daemonTaskDefinitionArn", "status", "registeredAt", "deleteRequestedAt", "registeredBy", "tags"]
        {
            object.remove(member);
        }
        object.insert("networkMode".into(), json!("bridge"));
        object.insert("pidMode".into(), pid);
        object.insert("ipcMode".into(), ipc);
        object.retain(|_, v| !v.is_null());
    }
    value
}

/// The task definition a daemon task runs: the daemon definition's members in the task definition's shape, with
/// `bridge` networking (the daemon shape has no network mode or port mappings).
pub fn as_task_definition(definition: &DaemonTaskDefinition) -> Result<TaskDefinition> {
    let value = serde_json::to_value(definition)
        .map_err(|e| ControlError::invalid(format!("the daemon task definition does not encode: {e}")))?;
    let mut value = task_members(value, pid_mode(definition.pid_mode), ipc_mode(definition.ipc_mode));
    if let Some(object) = value.as_object_mut() {
        object.insert("taskDefinitionArn".into(), json!(definition.daemon_task_definition_arn));
        object.insert("revision".into(), json!(definition.revision));
    }
    serde_json::from_value(value)
        .map_err(|e| ControlError::invalid(format!("the daemon task definition is not a valid task definition: {e}")))
}

/// Checks a registration with the task definition rules (ECS's classes and messages).
fn validate(req: &RegisterDaemonTaskDefinitionRequest) -> Result<()> {
    validate_family(&req.family).map_err(|e| ControlError::client(e.message))?;
    if req.container_definitions.is_empty() {
        return Err(ControlError::client("Daemon task definitions require at least one container definition."));
    }
    if req.container_definitions.iter().any(|c| c.name.as_deref().is_none_or(str::is_empty)) {
        return Err(ControlError::client("Container.name should not be null or empty."));
    }
    if req.volumes.iter().flatten().any(|v| v.log_driver_volume_configuration.is_some()) {
        return Err(ControlError::ecs(
            EcsException::UnsupportedFeatureException,
            "logDriverVolumeConfiguration volumes are not supported by Berth: its agents ship logs with the awslogs \
             driver, which needs no volume.",
        ));
    }
    let value = serde_json::to_value(req).map_err(|e| ControlError::invalid(e.to_string()))?;
    let value = task_members(value, pid_mode(req.pid_mode), ipc_mode(req.ipc_mode));
    let as_task: RegisterTaskDefinitionRequest =
        serde_json::from_value(value).map_err(|e| ControlError::client(e.to_string()))?;
    validate_register(&as_task).map_err(|e| match e.exception {
        "InvalidParameterException" => ControlError::invalid(e.message),
        _ => ControlError::client(e.message),
    })
}

/// Resolves `family`, `family:revision` or an ARN to a daemon task definition (a bare family: its latest ACTIVE
/// revision).
pub(crate) fn find_in<'s>(state: &'s State, text: &str) -> Result<&'s Versioned<DaemonTaskDefinitionRecord>> {
    let not_found = || ControlError::client("Unable to describe daemon task definition.");
    let reference = if is_arn(text) {
        let arn = Arn::parse(text).map_err(|e| ControlError::invalid(e.to_string()))?;
        if arn.resource_type() != RESOURCE {
            return Err(ControlError::invalid(format!("{text} is not a daemon task definition ARN.")));
        }
        arn.resource_path().join("/")
    } else {
        text.to_string()
    };
    match reference.rsplit_once(':') {
        Some((family, revision)) => {
            let revision: i32 = revision
                .parse()
                .map_err(|_| ControlError::client(format!("Invalid revision number. Number: {revision}")))?;
            state.daemon_task_definitions.get(&(family.to_string(), revision)).ok_or_else(not_found)
        }
        None => state
            .daemon_task_definitions
            .range((reference.clone(), i32::MIN)..=(reference.clone(), i32::MAX))
            .rev()
            .map(|(_, v)| v)
            .find(|v| v.record.definition.status == Some(DaemonTaskDefinitionStatus::Active))
            .ok_or_else(not_found),
    }
}

fn summary(definition: &DaemonTaskDefinition) -> DaemonTaskDefinitionSummary {
    DaemonTaskDefinitionSummary {
        arn: definition.daemon_task_definition_arn.clone(),
        registered_at: definition.registered_at,
        registered_by: definition.registered_by.clone(),
        delete_requested_at: definition.delete_requested_at,
        status: definition.status,
    }
}

/// The daemon task definition a daemon task runs (`None` for any other task).
pub(crate) fn definition_of_task<'s>(
    state: &'s State,
    record: &crate::records::TaskRecord,
) -> Option<&'s DaemonTaskDefinitionRecord> {
    if !is_daemon_task_definition_arn(&record.task_definition_arn) {
        return None;
    }
    find_in(state, &record.task_definition_arn).ok().map(|v| &*v.record)
}

/// Whether a daemon that is not gone uses `arn` (its current revision, or a revision its tasks still run).
pub(crate) fn in_use(state: &State, arn: &str) -> bool {
    state.daemons.values().any(|d| {
        let daemon = &d.record;
        let current = daemon.revision(&daemon.current_revision).is_some_and(|r| r.task_definition_arn == arn);
        current
            || state.tasks_by_group.get(&(daemon.cluster.clone(), super::group(&daemon.name))).is_some_and(|keys| {
                keys.iter().filter_map(|k| state.tasks.get(k)).any(|t| {
                    t.record.task_definition_arn == arn
                        && t.record.last_status() != Some(crate::status::TaskStatus::Stopped)
                })
            })
    })
}

impl Control {
    /// `RegisterDaemonTaskDefinition`: validates as a task definition and stores the family's next revision.
    pub async fn register_daemon_task_definition(
        &self,
        req: RegisterDaemonTaskDefinitionRequest,
    ) -> Result<RegisterDaemonTaskDefinitionResponse> {
        validate(&req)?;
        let size = serde_json::to_vec(&req).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_BYTES {
            return Err(ControlError::client(format!(
                "Actual length: '{size}'. Max allowed length is '{MAX_BYTES}' bytes."
            )));
        }
        let tags = req.tags.clone().unwrap_or_default();
        validate_tags(&tags)?;
        let empty_is_none = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        self.write("registering a daemon task definition", |state, now| {
            let family = state.daemon_families.get(&req.family);
            let revision = family.map(|f| f.record.latest_revision).unwrap_or(0) + 1;
            let arn = self.arn(&format!("{RESOURCE}/{}:{revision}", req.family));
            let definition = DaemonTaskDefinition {
                daemon_task_definition_arn: Some(arn.clone()),
                family: Some(req.family.clone()),
                revision,
                task_role_arn: empty_is_none(&req.task_role_arn),
                execution_role_arn: empty_is_none(&req.execution_role_arn),
                container_definitions: Some(req.container_definitions.clone()),
                volumes: Some(req.volumes.clone().unwrap_or_default()),
                cpu: empty_is_none(&req.cpu),
                memory: empty_is_none(&req.memory),
                status: Some(DaemonTaskDefinitionStatus::Active),
                registered_at: Some(now),
                delete_requested_at: None,
                registered_by: Some(format!("arn:aws:iam::{}:root", self.config.account_id)),
                pid_mode: req.pid_mode,
                ipc_mode: req.ipc_mode,
            };
            let record = DaemonTaskDefinitionRecord { definition, tags: tags.clone() };
            let family_key = keys::family(&req.family);
            let txn = Txn::new()
                .expect(family_key.clone(), family.map(|f| f.mod_revision).unwrap_or(0))
                .put(family_key, encode(&DaemonFamilyRecord { family: req.family.clone(), latest_revision: revision })?)
                .put(keys::task_definition(&req.family, revision), encode(&record)?);
            Ok(Attempt::Commit(txn, arn))
        })
        .await
        .map(|arn| RegisterDaemonTaskDefinitionResponse { daemon_task_definition_arn: Some(arn) })
    }

    /// `DescribeDaemonTaskDefinition`.
    pub fn describe_daemon_task_definition(
        &self,
        req: DescribeDaemonTaskDefinitionRequest,
    ) -> Result<DescribeDaemonTaskDefinitionResponse> {
        let state = self.cache.read();
        let v = find_in(&state, &req.daemon_task_definition)?;
        Ok(DescribeDaemonTaskDefinitionResponse { daemon_task_definition: Some(v.record.definition.clone()) })
    }

    /// `DeleteDaemonTaskDefinition`: an ACTIVE revision becomes DELETE_IN_PROGRESS while a daemon still uses it
    /// (the daemon scheduler marks it DELETED once none does), else DELETED at once.
    pub async fn delete_daemon_task_definition(
        &self,
        req: DeleteDaemonTaskDefinitionRequest,
    ) -> Result<DeleteDaemonTaskDefinitionResponse> {
        let text = req.daemon_task_definition.trim().to_string();
        let bare = text.rsplit('/').next().unwrap_or(&text);
        if !bare.contains(':') {
            return Err(ControlError::client(
                "The specified daemon task definition must include a revision (family:revision or its ARN).",
            ));
        }
        self.write("deleting a daemon task definition", |state, now| {
            let v = find_in(state, &text)?;
            let mut record = (*v.record).clone();
            if record.definition.status != Some(DaemonTaskDefinitionStatus::Active) {
                return Err(ControlError::client("The specified daemon task definition is not ACTIVE."));
            }
            let arn = record.definition.daemon_task_definition_arn.clone().unwrap_or_default();
            record.definition.status = Some(if in_use(state, &arn) {
                DaemonTaskDefinitionStatus::DeleteInProgress
            } else {
                DaemonTaskDefinitionStatus::Deleted
            });
            record.definition.delete_requested_at = Some(now);
            let family = record.definition.family.clone().unwrap_or_default();
            let key = keys::task_definition(&family, record.definition.revision);
            let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
            Ok(Attempt::Commit(txn, arn))
        })
        .await
        .map(|arn| DeleteDaemonTaskDefinitionResponse { daemon_task_definition_arn: Some(arn) })
    }

    /// `ListDaemonTaskDefinitions`.
    pub fn list_daemon_task_definitions(
        &self,
        req: ListDaemonTaskDefinitionsRequest,
    ) -> Result<ListDaemonTaskDefinitionsResponse> {
        let size = page_size(req.max_results, 100, 100)?;
        for family in [&req.family_prefix, &req.family].into_iter().flatten().filter(|f| !f.is_empty()) {
            validate_family(family).map_err(|e| ControlError::invalid(e.message))?;
        }
        let status = req.status.unwrap_or(DaemonTaskDefinitionStatusFilter::Active);
        let descending = req.sort == Some(SortOrder::Desc);
        let last_only = req.revision == Some(DaemonTaskDefinitionRevisionFilter::LastRegistered);
        let state = self.cache.read();
        let mut items: Vec<(String, DaemonTaskDefinitionSummary)> = state
            .daemon_task_definitions
            .iter()
            .filter(|((family, revision), v)| {
                let d = &v.record.definition;
                let status_ok = match status {
                    DaemonTaskDefinitionStatusFilter::All => true,
                    DaemonTaskDefinitionStatusFilter::Active => d.status == Some(DaemonTaskDefinitionStatus::Active),
                    DaemonTaskDefinitionStatusFilter::DeleteInProgress => {
                        d.status == Some(DaemonTaskDefinitionStatus::DeleteInProgress)
                    }
                };
                let last = !last_only
                    || state.daemon_families.get(family).is_some_and(|f| f.record.latest_revision == *revision);
                status_ok
                    && last
                    && req.family.as_deref().filter(|f| !f.is_empty()).is_none_or(|f| f == family)
                    && req.family_prefix.as_deref().is_none_or(|p| family.starts_with(p))
            })
            .map(|((family, revision), v)| (format!("{family}:{revision:010}"), summary(&v.record.definition)))
            .collect();
        if descending {
            items.reverse();
        }
        let page = paginate_ordered(items, req.next_token.as_deref(), size, descending)?;
        Ok(ListDaemonTaskDefinitionsResponse { daemon_task_definitions: Some(page.items), next_token: page.next_token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::ecs::{DaemonContainerDefinition, DaemonVolume, LogDriverVolumeConfiguration};

    fn request() -> RegisterDaemonTaskDefinitionRequest {
        RegisterDaemonTaskDefinitionRequest {
            family: "agent".into(),
            container_definitions: vec![DaemonContainerDefinition {
                name: Some("agent".into()),
                image: "busybox".into(),
                memory: Some(32),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_daemon_definition_is_checked_with_the_task_definition_rules() {
        assert!(validate(&request()).is_ok());
        let mut unnamed = request();
        unnamed.container_definitions[0].name = None;
        assert!(validate(&unnamed).unwrap_err().to_string().contains("Container.name"));
        let mut no_memory = request();
        no_memory.container_definitions[0].memory = None;
        assert_eq!(validate(&no_memory).unwrap_err().exception(), EcsException::ClientException);
        let mut bad_family = request();
        bad_family.family = "has space".into();
        assert!(validate(&bad_family).is_err());
        let mut log_volume = request();
        log_volume.volumes = Some(vec![DaemonVolume {
            name: Some("logs".into()),
            log_driver_volume_configuration: Some(LogDriverVolumeConfiguration::default()),
            ..Default::default()
        }]);
        assert_eq!(validate(&log_volume).unwrap_err().exception(), EcsException::UnsupportedFeatureException);
    }

    #[test]
    fn the_task_definition_of_a_daemon_runs_in_bridge_mode_with_its_containers() {
        let definition = DaemonTaskDefinition {
            daemon_task_definition_arn: Some(
                "arn:aws:ecs:us-east-1:000000000000:daemon-task-definition/agent:2".into(),
            ),
            family: Some("agent".into()),
            revision: 2,
            container_definitions: request().container_definitions.into(),
            pid_mode: Some(DaemonPidMode::Shared),
            status: Some(DaemonTaskDefinitionStatus::Active),
            ..Default::default()
        };
        let td = as_task_definition(&definition).unwrap();
        assert_eq!(td.network_mode, Some(berth_model::ecs::NetworkMode::Bridge));
        assert_eq!(td.pid_mode.map(|m| m.as_str()), Some("host"));
        assert_eq!(td.revision, 2);
        assert_eq!(td.container_definitions.unwrap()[0].memory, Some(32));
        assert!(is_daemon_task_definition_arn(td.task_definition_arn.as_deref().unwrap()));
        assert!(!is_daemon_task_definition_arn("arn:aws:ecs:us-east-1:000000000000:task-definition/agent:2"));
    }
}

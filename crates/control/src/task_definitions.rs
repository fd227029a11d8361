//! Task definitions: Register, Describe, List (revisions and families), Deregister, Delete.

use crate::cache::{State, Versioned};
use crate::optimistic::Attempt;
use crate::paging::{page_size, paginate, paginate_ordered};
use crate::records::{FamilyRecord, TaskDefinitionRecord, keys};
use crate::status::TaskStatus;
use crate::tags::validate_tags;
use crate::{Control, ControlError, Result, encode};
use berth_model::arn::{Arn, is_arn};
use berth_model::ecs::task_definition::{
    fargate_compatible, parse_task_cpu, parse_task_memory, validate_family, validate_register,
};
use berth_model::ecs::{
    Attribute, Compatibility, ContainerDefinition, DeleteTaskDefinitionsRequest, DeleteTaskDefinitionsResponse,
    DeregisterTaskDefinitionRequest, DeregisterTaskDefinitionResponse, DescribeTaskDefinitionRequest,
    DescribeTaskDefinitionResponse, Failure, ListTaskDefinitionFamiliesRequest, ListTaskDefinitionFamiliesResponse,
    ListTaskDefinitionsRequest, ListTaskDefinitionsResponse, NetworkMode, RegisterTaskDefinitionRequest,
    RegisterTaskDefinitionResponse, SortOrder, TaskDefinition, TaskDefinitionFamilyStatus, TaskDefinitionField,
    TaskDefinitionStatus, TransportProtocol,
};
use berth_model::host_access::HostNeeds;
use berth_store::Txn;

/// ECS's limit on the size of a task definition: 64 KiB of JSON.
pub const MAX_TASK_DEFINITION_BYTES: usize = 64 * 1024;

/// The ARN of the caller that registers task definitions (Berth has one root identity per account).
fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// An optional string as ECS treats it: empty means absent (deploy tools copy definitions with `""` members).
fn absent_if_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// Fills in the defaults ECS shows for a container definition.
pub(crate) fn normalise_container(mut c: ContainerDefinition, network_mode: NetworkMode) -> ContainerDefinition {
    // See docs/COMPATIBILITY.md: an empty hostname, user or working directory is the image's default.
    c.hostname = absent_if_empty(c.hostname.take());
    c.user = absent_if_empty(c.user.take());
    c.working_directory = absent_if_empty(c.working_directory.take());
    c.essential = Some(c.essential.unwrap_or(true));
    for pm in c.port_mappings.iter_mut().flatten() {
        pm.protocol = Some(pm.protocol.unwrap_or(TransportProtocol::Tcp));
        if matches!(network_mode, NetworkMode::Awsvpc | NetworkMode::Host) && pm.host_port.unwrap_or(0) == 0 {
            pm.host_port = pm.container_port;
        }
    }
    c.port_mappings.get_or_insert_with(Vec::new);
    c.environment.get_or_insert_with(Vec::new);
    c.mount_points.get_or_insert_with(Vec::new);
    c.volumes_from.get_or_insert_with(Vec::new);
    c.system_controls.get_or_insert_with(Vec::new);
    c
}

/// The attributes an instance must advertise to run a task definition: what ECS derives
/// ([`crate::requires_attributes::derive`]) and what it needs from its host (Berth's own host-reach attributes).
pub(crate) fn required_attributes(td: &TaskDefinition) -> Vec<String> {
    let containers = td.container_definitions.as_deref().unwrap_or_default();
    let mut attrs: Vec<String> =
        crate::requires_attributes::derive(td, containers).into_iter().map(|r| r.attribute).collect();
    for name in host_needs(td, containers).attributes() {
        if !attrs.contains(&name) {
            attrs.push(name);
        }
    }
    attrs
}

/// What a task of `td` with these (overridden) containers needs from its host (privileged, host paths, ...).
pub(crate) fn host_needs(td: &TaskDefinition, containers: &[ContainerDefinition]) -> HostNeeds {
    HostNeeds::of(td.network_mode, containers, td.volumes.as_deref().unwrap_or_default())
}

impl Control {
    /// `RegisterTaskDefinition`: validates as ECS does and stores the next revision of the family.
    pub async fn register_task_definition(
        &self,
        req: RegisterTaskDefinitionRequest,
    ) -> Result<RegisterTaskDefinitionResponse> {
        validate_register(&req).map_err(|e| ControlError::client(e.message))?;
        let size = serde_json::to_vec(&req).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_TASK_DEFINITION_BYTES {
            return Err(ControlError::client(format!(
                "Actual length: '{size}'. Max allowed length is '{MAX_TASK_DEFINITION_BYTES}' bytes."
            )));
        }
        let tags = req.tags.clone().unwrap_or_default();
        validate_tags(&tags)?;
        let network_mode = req.network_mode.unwrap_or(NetworkMode::Bridge);
        // As ECS computes it: every definition is validated against EC2, and one that also satisfies Fargate's
        // rules is FARGATE compatible whether it requires FARGATE or not.
        let fargate_ok = fargate_compatible(&req);
        let mut compatibilities = vec![Compatibility::Ec2];
        if fargate_ok {
            compatibilities.push(Compatibility::Fargate);
        }
        let td = self
            .write("registering a task definition", |state, now| {
                let family = state.families.get(&req.family);
                let revision = family.as_ref().map(|f| f.record.latest_revision).unwrap_or(0) + 1;
                let mut td = TaskDefinition {
                    task_definition_arn: Some(self.arn(&format!("task-definition/{}:{revision}", req.family))),
                    container_definitions: Some(
                        req.container_definitions
                            .iter()
                            .cloned()
                            .map(|c| normalise_container(c, network_mode))
                            .collect(),
                    ),
                    family: Some(req.family.clone()),
                    // `""` (what deploy tools send when copying a definition) is no role: docs/COMPATIBILITY.md.
                    task_role_arn: absent_if_empty(req.task_role_arn.clone()),
                    execution_role_arn: absent_if_empty(req.execution_role_arn.clone()),
                    network_mode: req.network_mode,
                    revision,
                    volumes: Some(req.volumes.clone().unwrap_or_default()),
                    status: Some(TaskDefinitionStatus::Active),
                    placement_constraints: Some(req.placement_constraints.clone().unwrap_or_default()),
                    compatibilities: Some(compatibilities.clone()),
                    runtime_platform: req.runtime_platform.clone(),
                    requires_compatibilities: req.requires_compatibilities.clone(),
                    cpu: req.cpu.as_deref().and_then(parse_task_cpu).map(|c| c.to_string()),
                    memory: req.memory.as_deref().and_then(parse_task_memory).map(|m| m.to_string()),
                    pid_mode: req.pid_mode,
                    ipc_mode: req.ipc_mode,
                    proxy_configuration: req.proxy_configuration.clone(),
                    registered_at: Some(now),
                    registered_by: Some(root_arn(&self.config.account_id)),
                    ephemeral_storage: req.ephemeral_storage.clone(),
                    enable_fault_injection: req.enable_fault_injection,
                    ..Default::default()
                };
                td.requires_attributes = Some(
                    required_attributes(&td).into_iter().map(|name| Attribute { name, ..Default::default() }).collect(),
                );
                let record = TaskDefinitionRecord { task_definition: td.clone(), tags: tags.clone() };
                let family_key = keys::family(&req.family);
                let txn = Txn::new()
                    .expect(family_key.clone(), family.as_ref().map(|f| f.mod_revision).unwrap_or(0))
                    .put(family_key, encode(&FamilyRecord { family: req.family.clone(), latest_revision: revision })?)
                    .put(keys::task_definition(&req.family, revision), encode(&record)?);
                Ok(Attempt::Commit(txn, td))
            })
            .await?;
        Ok(RegisterTaskDefinitionResponse { task_definition: Some(td), tags: Some(tags) })
    }

    /// Resolves `family`, `family:revision` or an ARN. A bare family means its latest ACTIVE revision.
    pub(crate) fn find_task_definition(&self, text: &str) -> Result<Versioned<TaskDefinitionRecord>> {
        find_task_definition_in(&self.cache.read(), text)
    }

    /// `DescribeTaskDefinition`.
    pub fn describe_task_definition(
        &self,
        req: DescribeTaskDefinitionRequest,
    ) -> Result<DescribeTaskDefinitionResponse> {
        let v = self.find_task_definition(&req.task_definition)?;
        let with_tags = req.include.iter().flatten().any(|f| *f == TaskDefinitionField::Tags);
        Ok(DescribeTaskDefinitionResponse {
            task_definition: Some(v.record.task_definition.clone()),
            tags: with_tags.then(|| v.record.tags.clone()),
        })
    }

    /// `ListTaskDefinitions`.
    pub fn list_task_definitions(&self, req: ListTaskDefinitionsRequest) -> Result<ListTaskDefinitionsResponse> {
        let size = page_size(req.max_results, 100, 100)?;
        let status = req.status.unwrap_or(TaskDefinitionStatus::Active);
        if let Some(family) = &req.family_prefix {
            validate_family(family).map_err(|e| ControlError::invalid(e.message))?;
        }
        let descending = req.sort == Some(SortOrder::Desc);
        let state = self.cache.read();
        let matching = state
            .task_definitions
            .iter()
            .filter(|((family, _), v)| {
                req.family_prefix.as_ref().is_none_or(|p| p == family)
                    && v.record.task_definition.status == Some(status)
            })
            .map(|((family, revision), v)| {
                (
                    format!("{family}:{revision:010}"),
                    v.record.task_definition.task_definition_arn.clone().unwrap_or_default(),
                )
            });
        let items: Vec<(String, String)> = if descending { matching.rev().collect() } else { matching.collect() };
        drop(state);
        let page = paginate_ordered(items, req.next_token.as_deref(), size, descending)?;
        Ok(ListTaskDefinitionsResponse { task_definition_arns: Some(page.items), next_token: page.next_token })
    }

    /// `ListTaskDefinitionFamilies`.
    pub fn list_task_definition_families(
        &self,
        req: ListTaskDefinitionFamiliesRequest,
    ) -> Result<ListTaskDefinitionFamiliesResponse> {
        let size = page_size(req.max_results, 100, 100)?;
        let status = req.status.unwrap_or(TaskDefinitionFamilyStatus::All);
        let prefix = req.family_prefix.clone().unwrap_or_default();
        let state = self.cache.read();
        let items: Vec<(String, String)> = state
            .families
            .keys()
            .filter(|f| f.starts_with(&prefix))
            .filter(|f| {
                let active = state
                    .task_definitions
                    .range(((*f).clone(), 0)..=((*f).clone(), i32::MAX))
                    .any(|(_, v)| v.record.task_definition.status == Some(TaskDefinitionStatus::Active));
                match status {
                    TaskDefinitionFamilyStatus::All => true,
                    TaskDefinitionFamilyStatus::Active => active,
                    TaskDefinitionFamilyStatus::Inactive => !active,
                }
            })
            .map(|f| (f.clone(), f.clone()))
            .collect();
        drop(state);
        let page = paginate(items, req.next_token.as_deref(), size)?;
        Ok(ListTaskDefinitionFamiliesResponse { families: Some(page.items), next_token: page.next_token })
    }

    async fn set_task_definition_status(
        &self,
        text: &str,
        change: impl Fn(&mut TaskDefinition, f64),
    ) -> Result<TaskDefinition> {
        self.write("changing a task definition's status", |state, now| {
            let v = find_task_definition_in(state, text)?;
            let mut record = (*v.record).clone();
            change(&mut record.task_definition, now);
            let td = &record.task_definition;
            let key = keys::task_definition(td.family.as_deref().unwrap_or_default(), td.revision);
            let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
            Ok(Attempt::Commit(txn, record.task_definition))
        })
        .await
    }

    /// `DeregisterTaskDefinition`: the revision becomes INACTIVE; running tasks go on, new runs are refused.
    pub async fn deregister_task_definition(
        &self,
        req: DeregisterTaskDefinitionRequest,
    ) -> Result<DeregisterTaskDefinitionResponse> {
        let (_, revision) = parse_task_definition_ref(&req.task_definition)?;
        if revision.is_none() {
            return Err(ControlError::client(
                "A task definition revision is required: use family:revision or the full ARN.",
            ));
        }
        let td = self
            .set_task_definition_status(&req.task_definition, |td, now| {
                if td.status == Some(TaskDefinitionStatus::Active) {
                    td.status = Some(TaskDefinitionStatus::Inactive);
                    td.deregistered_at = Some(now);
                }
            })
            .await?;
        Ok(DeregisterTaskDefinitionResponse { task_definition: Some(td) })
    }

    /// `DeleteTaskDefinitions`: INACTIVE revisions become DELETE_IN_PROGRESS; others come back as failures.
    pub async fn delete_task_definitions(
        &self,
        req: DeleteTaskDefinitionsRequest,
    ) -> Result<DeleteTaskDefinitionsResponse> {
        if req.task_definitions.is_empty() || req.task_definitions.len() > 10 {
            return Err(ControlError::invalid("taskDefinitions must name between 1 and 10 task definitions."));
        }
        let mut deleted = Vec::new();
        let mut failures = Vec::new();
        for text in &req.task_definitions {
            let failure = |reason: &str, detail: Option<String>| Failure {
                arn: Some(if is_arn(text) { text.clone() } else { self.arn(&format!("task-definition/{text}")) }),
                reason: Some(reason.to_string()),
                detail,
            };
            let (_, revision) = match parse_task_definition_ref(text) {
                Ok(parsed) => parsed,
                Err(e) => {
                    failures.push(failure(INVALID_IDENTIFIER, Some(e.to_string())));
                    continue;
                }
            };
            if revision.is_none() {
                failures.push(failure(INVALID_IDENTIFIER, Some("A revision is required.".into())));
                continue;
            }
            let current = match self.find_task_definition(text) {
                Ok(v) => v,
                Err(_) => {
                    failures.push(failure(NOT_FOUND, None));
                    continue;
                }
            };
            if current.record.task_definition.status == Some(TaskDefinitionStatus::Active) {
                failures.push(failure(
                    "The specified task definition is still in ACTIVE status. Please deregister the target and try again.",
                    None,
                ));
                continue;
            }
            let td = self
                .set_task_definition_status(text, |td, now| {
                    if td.status != Some(TaskDefinitionStatus::DeleteInProgress) {
                        td.status = Some(TaskDefinitionStatus::DeleteInProgress);
                        td.delete_requested_at = Some(now);
                    }
                })
                .await?;
            deleted.push(td);
        }
        Ok(DeleteTaskDefinitionsResponse { task_definitions: Some(deleted), failures: Some(failures) })
    }
}

// DeleteTaskDefinitions' `failures[].reason` texts. ECS's API reference does not list them; these are the texts
// other ECS emulators reproduce from observed responses (see docs/COMPATIBILITY.md). The ACTIVE one is the most
// widely quoted; the other two are less certain.
/// The reason ECS gives for a task definition that does not exist.
pub const NOT_FOUND: &str =
    "The specified task definition does not exist. Specify a valid account, family, revision and try again.";
/// The reason ECS gives for an identifier that is not `family:revision` or a task definition ARN.
pub const INVALID_IDENTIFIER: &str =
    "The specified task definition identifier is invalid. Specify a valid name or ARN and try again.";

/// The most deleted task definitions removed per pass.
const DELETE_BATCH: usize = 100;

/// Removes task definitions in `DELETE_IN_PROGRESS` that no task that is not STOPPED and no service deployment
/// uses any more, from the store and so from the cache (ECS deletes them once nothing references them).
pub async fn forget_deleted_task_definitions(control: &Control) -> Result<()> {
    let doomed: Vec<(String, i64)> = {
        let state = control.cache.read();
        let deleting: Vec<(&(String, i32), &Versioned<TaskDefinitionRecord>)> = state
            .task_definitions
            .iter()
            .filter(|(_, v)| v.record.task_definition.status == Some(TaskDefinitionStatus::DeleteInProgress))
            .collect();
        if deleting.is_empty() {
            return Ok(());
        }
        let mut in_use: std::collections::HashSet<&str> = state
            .tasks
            .values()
            .filter(|t| t.record.last_status() != Some(TaskStatus::Stopped))
            .map(|t| t.record.task_definition_arn.as_str())
            .collect();
        for service in state.services.values() {
            in_use.extend(service.record.deployments.iter().map(|d| d.task_definition.as_str()));
            in_use.extend(service.record.task_sets.iter().map(|t| t.task_definition.as_str()));
            in_use.extend(service.record.last_completed_task_definition.as_deref());
        }
        deleting
            .into_iter()
            .filter(|(_, v)| {
                v.record.task_definition.task_definition_arn.as_deref().is_none_or(|arn| !in_use.contains(arn))
            })
            .take(DELETE_BATCH)
            .map(|((family, revision), v)| (keys::task_definition(family, *revision), v.mod_revision))
            .collect()
    };
    if doomed.is_empty() {
        return Ok(());
    }
    let mut txn = Txn::new();
    for (key, revision) in doomed {
        txn = txn.expect(key.clone(), revision).delete(key);
    }
    // A conflict means one changed meanwhile; the next pass tries again.
    control.commit(txn, "removing deleted task definitions").await?;
    Ok(())
}

/// Splits `family`, `family:revision` or a task definition ARN into (family, revision).
pub(crate) fn parse_task_definition_ref(text: &str) -> Result<(String, Option<i32>)> {
    let body = if is_arn(text) {
        let arn = Arn::parse(text).map_err(|e| ControlError::client(e.to_string()))?;
        if arn.resource_type() != "task-definition" {
            return Err(ControlError::client(format!("{text} is not a task definition ARN.")));
        }
        arn.resource.trim_start_matches("task-definition/").to_string()
    } else {
        text.to_string()
    };
    match body.rsplit_once(':') {
        Some((family, revision)) => {
            let revision: i32 = revision
                .parse()
                .ok()
                .filter(|r| *r > 0)
                .ok_or_else(|| ControlError::client(format!("Invalid revision number in {text:?}.")))?;
            Ok((family.to_string(), Some(revision)))
        }
        None => Ok((body, None)),
    }
}

/// Resolves `family`, `family:revision` or an ARN in the cache state. A bare family means its latest ACTIVE
/// revision.
pub(crate) fn find_task_definition_in(state: &State, text: &str) -> Result<Versioned<TaskDefinitionRecord>> {
    let unable = || ControlError::client("Unable to describe task definition.");
    let (family, revision) = parse_task_definition_ref(text)?;
    validate_family(&family).map_err(|_| unable())?;
    match revision {
        Some(r) if state.is_quarantined(&keys::task_definition(&family, r)) => Err(ControlError::client(format!(
            "The stored record of task definition {family}:{r} is corrupt and quarantined; see `berth admin quarantine`."
        ))),
        Some(r) => state.task_definitions.get(&(family, r)).cloned().ok_or_else(unable),
        None => state
            .task_definitions
            .range((family.clone(), 0)..=(family, i32::MAX))
            .rev()
            .find(|(_, v)| v.record.task_definition.status == Some(TaskDefinitionStatus::Active))
            .map(|(_, v)| v.clone())
            .ok_or_else(unable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        assert_eq!(parse_task_definition_ref("web").unwrap(), ("web".into(), None));
        assert_eq!(parse_task_definition_ref("web:3").unwrap(), ("web".into(), Some(3)));
        assert_eq!(
            parse_task_definition_ref("arn:aws:ecs:us-east-1:000000000000:task-definition/web:12").unwrap(),
            ("web".into(), Some(12))
        );
        assert!(parse_task_definition_ref("web:0").is_err());
        assert!(parse_task_definition_ref("web:x").is_err());
        assert!(parse_task_definition_ref("arn:aws:ecs:us-east-1:0:cluster/x").is_err());
    }
}

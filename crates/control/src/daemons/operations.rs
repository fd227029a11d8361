//! CreateDaemon, UpdateDaemon, DeleteDaemon, DescribeDaemon, ListDaemons.

use super::records::{
    DaemonBreakerRecord, DaemonDeploymentRecord, DaemonRecord, DaemonRevisionRecord, DaemonTaskDefinitionRecord, keys,
};
use super::rollout::DEFAULT_DRAIN_PERCENT;
use super::{instances_of, is_valid_name, not_found, parse_daemon_arn, task_definitions};
use crate::cache::State;
use crate::optimistic::Attempt;
use crate::paging::{page_size, paginate};
use crate::records::{ClientTokenRecord, ProviderStatus, StoredTag};
use crate::tags::validate_tags;
use crate::{Control, ControlError, EcsException, Result, encode};
use berth_model::ecs::{
    CreateDaemonRequest, CreateDaemonResponse, DaemonContainerImage, DaemonDeploymentConfiguration,
    DaemonDeploymentStatus, DaemonPropagateTags, DaemonStatus, DaemonTaskDefinitionStatus, DeleteDaemonRequest,
    DeleteDaemonResponse, DescribeDaemonRequest, DescribeDaemonResponse, ListDaemonsRequest, ListDaemonsResponse,
    UpdateDaemonRequest, UpdateDaemonResponse,
};
use berth_store::Txn;
use sha2::{Digest, Sha256};

/// The message when a provider is not one a daemon can use.
const PROVIDER_REFUSED: &str = "Daemons run on the cluster's capacity providers backed by node groups (berth agent \
     --node-group); FARGATE and FARGATE_SPOT have no instances to run them on.";

/// The settings a deployment starts from: the request's, with ECS's defaults, checked.
fn deployment_configuration(given: Option<&DaemonDeploymentConfiguration>) -> Result<DaemonDeploymentConfiguration> {
    let mut config = given.cloned().unwrap_or_default();
    let drain = config.drain_percent.unwrap_or(DEFAULT_DRAIN_PERCENT);
    if !(0.0..=100.0).contains(&drain) || !drain.is_finite() {
        return Err(ControlError::invalid("drainPercent must be between 0.0 and 100.0."));
    }
    config.drain_percent = Some(drain);
    if !(0..=1440).contains(&config.bake_time_in_minutes) {
        return Err(ControlError::invalid("bakeTimeInMinutes must be between 0 and 1440."));
    }
    if config.alarms.as_ref().is_some_and(|a| a.enable) {
        return Err(ControlError::ecs(
            EcsException::UnsupportedFeatureException,
            "Alarm-based rollback of daemon deployments is not supported by Berth yet; the circuit breaker rolls \
             back a failing revision.",
        ));
    }
    Ok(config)
}

/// The capacity provider names `given` (names or ARNs) resolves to: ACTIVE node group providers of the cluster.
fn resolve_providers(state: &State, cluster: &str, given: &[String]) -> Result<Vec<String>> {
    if given.is_empty() {
        return Err(ControlError::invalid("capacityProviderArns must name at least one capacity provider."));
    }
    let associated = state.clusters.get(cluster).map(|c| c.record.capacity_providers.clone()).unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for text in given {
        let name = text.rsplit_once(":capacity-provider/").map(|(_, n)| n).unwrap_or(text).trim();
        if crate::tasks::fargate::is_fargate_provider(name) {
            return Err(ControlError::invalid(PROVIDER_REFUSED));
        }
        let active = state.capacity_providers.get(name).is_some_and(|p| p.record.status == ProviderStatus::Active);
        if !active {
            return Err(ControlError::invalid(format!("The capacity provider {text} does not exist.")));
        }
        if !associated.iter().any(|a| a == name) {
            return Err(ControlError::invalid(format!(
                "The capacity provider {name} is not associated with the cluster {cluster}; add it with \
                 PutClusterCapacityProviders first."
            )));
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// The ACTIVE daemon task definition an ARN names, checked for what Berth can run.
fn usable_definition<'s>(state: &'s State, arn: &str, region: &str) -> Result<&'s DaemonTaskDefinitionRecord> {
    let v = task_definitions::find_in(state, arn)
        .map_err(|_| ControlError::invalid(format!("The daemon task definition {arn} does not exist.")))?;
    let definition = &v.record.definition;
    if definition.status != Some(DaemonTaskDefinitionStatus::Active) {
        return Err(ControlError::invalid(format!("The daemon task definition {arn} is not ACTIVE.")));
    }
    let td = task_definitions::as_task_definition(definition)?;
    let containers = td.container_definitions.as_deref().unwrap_or_default();
    if let Some(why) = crate::support::unsupported(&td, containers, region) {
        return Err(ControlError::ecs(EcsException::UnsupportedFeatureException, why));
    }
    // Secrets and registry credentials need the execution role, as for any task (RunTask's check).
    crate::task_secrets::validate(&td, containers)?;
    Ok(&v.record)
}

/// A revision of the daemon's settings.
fn new_revision(
    definition: &DaemonTaskDefinitionRecord,
    providers: Vec<String>,
    propagate_tags: Option<DaemonPropagateTags>,
    managed_tags: bool,
    execute_command: bool,
    now: f64,
) -> DaemonRevisionRecord {
    let containers = definition.definition.container_definitions.as_deref().unwrap_or_default();
    DaemonRevisionRecord {
        id: berth_model::ids::new_hex_id(),
        task_definition_arn: definition.definition.daemon_task_definition_arn.clone().unwrap_or_default(),
        capacity_providers: providers,
        container_images: containers
            .iter()
            .map(|c| DaemonContainerImage {
                container_name: c.name.clone(),
                image: Some(c.image.clone()),
                image_digest: None,
            })
            .collect(),
        propagate_tags,
        enable_ecs_managed_tags: managed_tags,
        enable_execute_command: execute_command,
        created_at: now,
    }
}

/// A deployment of `target` from the revisions the daemon's tasks run now.
fn new_deployment(
    target: Option<String>,
    sources: Vec<String>,
    configuration: DaemonDeploymentConfiguration,
    instances: usize,
    now: f64,
) -> DaemonDeploymentRecord {
    DaemonDeploymentRecord {
        id: berth_model::ids::new_hex_id(),
        status: DaemonDeploymentStatus::InProgress,
        status_reason: None,
        target_revision: target,
        source_revisions: sources,
        configuration,
        circuit_breaker: DaemonBreakerRecord {
            threshold: super::rollout::breaker_threshold(instances),
            ..Default::default()
        },
        rollback: None,
        bake_until: None,
        step_in_flight: false,
        created_at: now,
        started_at: Some(now),
        stopped_at: None,
        finished_at: None,
    }
}

/// The revisions the daemon's tasks that have not stopped run, each once.
fn running_revisions(state: &State, daemon: &DaemonRecord) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let group = super::group(&daemon.name);
    for key in state.tasks_by_group.get(&(daemon.cluster.clone(), group)).into_iter().flatten() {
        let Some(task) = state.tasks.get(key) else { continue };
        if task.record.last_status() == Some(crate::status::TaskStatus::Stopped) {
            continue;
        }
        if let Some(revision) = &task.record.daemon_revision
            && !out.contains(revision)
        {
            out.push(revision.clone());
        }
    }
    if out.is_empty() && daemon.revision(&daemon.current_revision).is_some() {
        out.push(daemon.current_revision.clone());
    }
    out
}

/// Marks the daemon's deployments still rolling as STOPPED: a later deployment supersedes them.
fn stop_active_deployments(daemon: &mut DaemonRecord, now: f64, why: &str) {
    for deployment in daemon.deployments.iter_mut().filter(|d| d.is_active()) {
        deployment.status = DaemonDeploymentStatus::Stopped;
        deployment.status_reason = Some(why.to_string());
        deployment.stopped_at = Some(now);
    }
}

impl Control {
    /// The ARN of a daemon.
    pub(crate) fn daemon_arn(&self, cluster: &str, name: &str) -> String {
        self.arn(&format!("daemon/{cluster}/{name}"))
    }

    /// The ARN of a daemon's revision.
    pub(crate) fn daemon_revision_arn(&self, daemon: &DaemonRecord, id: &str) -> String {
        self.arn(&format!("daemon-revision/{}/{}/{id}", daemon.cluster, daemon.name))
    }

    /// The ARN of a daemon's deployment.
    pub(crate) fn daemon_deployment_arn(&self, daemon: &DaemonRecord, id: &str) -> String {
        self.arn(&format!("daemon-deployment/{}/{}/{id}", daemon.cluster, daemon.name))
    }

    /// `CreateDaemon`: the daemon, its first revision and its first deployment, in one transaction; the daemon
    /// scheduler then starts a daemon task on each of its instances. A `clientToken` makes a retry return the
    /// same daemon.
    pub async fn create_daemon(&self, req: CreateDaemonRequest) -> Result<CreateDaemonResponse> {
        if !is_valid_name(&req.daemon_name) {
            return Err(ControlError::invalid(
                "Daemon names can have up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.",
            ));
        }
        let cluster = self.cluster_name(req.cluster_arn.as_deref())?;
        let tags = req.tags.clone().unwrap_or_default();
        validate_tags(&tags)?;
        let configuration = deployment_configuration(req.deployment_configuration.as_ref())?;
        let token = req.client_token.as_deref().filter(|t| !t.is_empty());
        if token.is_some_and(|t| t.len() > 64) {
            return Err(ControlError::invalid("clientToken can have at most 64 characters."));
        }
        let fingerprint = {
            let mut fields = req.clone();
            fields.client_token = None;
            hex::encode(Sha256::digest(serde_json::to_vec(&fields).unwrap_or_default()))
        };
        let token_key =
            token.map(|t| crate::records::keys::token("CreateDaemon", &hex::encode(Sha256::digest(t.as_bytes()))));
        let region = self.config.region.clone();
        let key = keys::daemon(&cluster, &req.daemon_name);
        let record = self
            .write("creating a daemon", |state, now| {
                let existing = state.daemons.get(&(cluster.clone(), req.daemon_name.clone()));
                if let Some(token_key) = &token_key
                    && let Some(recorded) = state.tokens.get(token_key).filter(|t| !self.token_expired(&t.record))
                {
                    return match (recorded.record.fingerprint == fingerprint, existing) {
                        (true, Some(v)) => Ok(Attempt::Done((*v.record).clone())),
                        _ => {
                            Err(ControlError::invalid("The clientToken was used for a different CreateDaemon request."))
                        }
                    };
                }
                if existing.is_some() {
                    return Err(ControlError::invalid(format!(
                        "Creation of daemon was not idempotent: a daemon named {} already exists in cluster {cluster}.",
                        req.daemon_name
                    )));
                }
                let providers = resolve_providers(state, &cluster, &req.capacity_provider_arns)?;
                let definition = usable_definition(state, &req.daemon_task_definition_arn, &region)?;
                let revision = new_revision(
                    definition,
                    providers,
                    req.propagate_tags,
                    req.enable_ecs_managed_tags,
                    req.enable_execute_command,
                    now,
                );
                let mut record = DaemonRecord {
                    arn: self.daemon_arn(&cluster, &req.daemon_name),
                    name: req.daemon_name.clone(),
                    cluster: cluster.clone(),
                    status: DaemonStatus::Active,
                    current_revision: revision.id.clone(),
                    revisions: vec![revision.clone()],
                    deployments: Vec::new(),
                    tags: StoredTag::from_wire(&tags),
                    critical: req.critical,
                    created_at: now,
                    updated_at: now,
                };
                let instances = instances_of(state, &record).len();
                record.deployments.push(new_deployment(
                    Some(revision.id.clone()),
                    Vec::new(),
                    configuration.clone(),
                    instances,
                    now,
                ));
                let mut txn = Txn::new().expect(key.clone(), 0).put(key.clone(), encode(&record)?);
                if let Some(token_key) = &token_key {
                    let token_record = ClientTokenRecord {
                        fingerprint: fingerprint.clone(),
                        resource_arns: vec![record.arn.clone()],
                        created_at: now,
                    };
                    let revision = state.tokens.get(token_key).map(|t| t.mod_revision).unwrap_or(0);
                    txn = txn.expect(token_key.clone(), revision).put(token_key.clone(), encode(&token_record)?);
                }
                Ok(Attempt::Commit(txn, record))
            })
            .await?;
        Ok(CreateDaemonResponse {
            daemon_arn: Some(record.arn.clone()),
            status: Some(record.status),
            created_at: Some(record.created_at),
            deployment_arn: record.last_deployment().map(|d| self.daemon_deployment_arn(&record, &d.id)),
        })
    }

    /// `UpdateDaemon`: a new revision and a deployment rolling it out; a deployment still rolling is STOPPED.
    pub async fn update_daemon(&self, req: UpdateDaemonRequest) -> Result<UpdateDaemonResponse> {
        let (cluster, name) = parse_daemon_arn(&req.daemon_arn)?;
        let configuration = deployment_configuration(req.deployment_configuration.as_ref())?;
        let region = self.config.region.clone();
        let key = keys::daemon(&cluster, &name);
        let record = self
            .write("updating a daemon", |state, now| {
                let (mod_revision, mut record) = active_daemon(state, &cluster, &name)?;
                let providers = resolve_providers(state, &cluster, &req.capacity_provider_arns)?;
                let definition = usable_definition(state, &req.daemon_task_definition_arn, &region)?;
                let revision = new_revision(
                    definition,
                    providers,
                    req.propagate_tags,
                    req.enable_ecs_managed_tags,
                    req.enable_execute_command,
                    now,
                );
                let sources = running_revisions(state, &record);
                stop_active_deployments(&mut record, now, "Superseded by a later deployment of the daemon.");
                record.current_revision = revision.id.clone();
                record.revisions.push(revision.clone());
                let instances = instances_of(state, &record).len();
                record.deployments.push(new_deployment(
                    Some(revision.id.clone()),
                    sources,
                    configuration.clone(),
                    instances,
                    now,
                ));
                record.updated_at = now;
                record.trim();
                let txn = Txn::new().expect(key.clone(), mod_revision).put(key.clone(), encode(&record)?);
                Ok(Attempt::Commit(txn, record))
            })
            .await?;
        Ok(UpdateDaemonResponse {
            daemon_arn: Some(record.arn.clone()),
            status: Some(record.status),
            created_at: Some(record.created_at),
            updated_at: Some(record.updated_at),
            deployment_arn: record.last_deployment().map(|d| self.daemon_deployment_arn(&record, &d.id)),
        })
    }

    /// `DeleteDaemon`: the daemon goes DELETE_IN_PROGRESS with a deployment that stops its tasks; the daemon
    /// scheduler removes it once they have all stopped.
    pub async fn delete_daemon(&self, req: DeleteDaemonRequest) -> Result<DeleteDaemonResponse> {
        let (cluster, name) = parse_daemon_arn(&req.daemon_arn)?;
        let key = keys::daemon(&cluster, &name);
        let record = self
            .write("deleting a daemon", |state, now| {
                let (mod_revision, mut record) = active_daemon(state, &cluster, &name)?;
                let sources = running_revisions(state, &record);
                stop_active_deployments(&mut record, now, "Superseded by the deletion of the daemon.");
                let configuration = record.last_deployment().map(|d| d.configuration.clone()).unwrap_or_default();
                let instances = instances_of(state, &record).len();
                record.deployments.push(new_deployment(None, sources, configuration, instances, now));
                record.status = DaemonStatus::DeleteInProgress;
                record.updated_at = now;
                record.trim();
                let txn = Txn::new().expect(key.clone(), mod_revision).put(key.clone(), encode(&record)?);
                Ok(Attempt::Commit(txn, record))
            })
            .await?;
        Ok(DeleteDaemonResponse {
            daemon_arn: Some(record.arn.clone()),
            status: Some(record.status),
            created_at: Some(record.created_at),
            updated_at: Some(record.updated_at),
            deployment_arn: record.last_deployment().map(|d| self.daemon_deployment_arn(&record, &d.id)),
        })
    }

    /// `DescribeDaemon`.
    pub fn describe_daemon(&self, req: DescribeDaemonRequest) -> Result<DescribeDaemonResponse> {
        let (cluster, name) = parse_daemon_arn(&req.daemon_arn)?;
        let state = self.cache.read();
        if !state.clusters.contains_key(&cluster) {
            return Err(ControlError::cluster_not_found());
        }
        let v = state.daemons.get(&(cluster, name)).ok_or_else(not_found)?;
        Ok(DescribeDaemonResponse { daemon: Some(self.render_daemon(&state, &v.record)) })
    }

    /// `ListDaemons`: every daemon, or a cluster's, or those on given capacity providers.
    pub fn list_daemons(&self, req: ListDaemonsRequest) -> Result<ListDaemonsResponse> {
        let size = page_size(req.max_results, 100, 100)?;
        let cluster = match req.cluster_arn.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => Some(self.cluster_name(Some(c))?),
            None => None,
        };
        let providers: Vec<String> = req
            .capacity_provider_arns
            .iter()
            .flatten()
            .map(|p| p.rsplit_once(":capacity-provider/").map(|(_, n)| n).unwrap_or(p).to_string())
            .collect();
        let state = self.cache.read();
        let items = state
            .daemons
            .iter()
            .filter(|((c, _), _)| cluster.as_ref().is_none_or(|want| want == c))
            .filter(|(_, v)| {
                providers.is_empty()
                    || v.record
                        .revision(&v.record.current_revision)
                        .is_some_and(|r| r.capacity_providers.iter().any(|p| providers.contains(p)))
            })
            .map(|((c, n), v)| (format!("{c}/{n}"), self.render_daemon_summary(&v.record)))
            .collect::<Vec<_>>();
        let page = paginate(items, req.next_token.as_deref(), size)?;
        Ok(ListDaemonsResponse { daemon_summaries_list: Some(page.items), next_token: page.next_token })
    }
}

/// The ACTIVE daemon `name` of `cluster` (its store revision and a copy of its record to change), or ECS's error:
/// the cluster missing, the daemon missing, or not ACTIVE.
fn active_daemon(state: &State, cluster: &str, name: &str) -> Result<(i64, DaemonRecord)> {
    if !state.clusters.contains_key(cluster) {
        return Err(ControlError::cluster_not_found());
    }
    let v = state.daemons.get(&(cluster.to_string(), name.to_string())).ok_or_else(not_found)?;
    if v.record.status != DaemonStatus::Active {
        return Err(ControlError::ecs(EcsException::DaemonNotActiveException, "The specified daemon is not ACTIVE."));
    }
    Ok((v.mod_revision, (*v.record).clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_settings_get_ecs_defaults_and_bounds() {
        let config = deployment_configuration(None).unwrap();
        assert_eq!(config.drain_percent, Some(25.0));
        assert_eq!(config.bake_time_in_minutes, 0);
        let too_much = DaemonDeploymentConfiguration { drain_percent: Some(100.5), ..Default::default() };
        assert!(deployment_configuration(Some(&too_much)).unwrap_err().to_string().contains("drainPercent"));
        let alarms = DaemonDeploymentConfiguration {
            alarms: Some(berth_model::ecs::DaemonAlarmConfiguration { enable: true, alarm_names: None }),
            ..Default::default()
        };
        assert_eq!(
            deployment_configuration(Some(&alarms)).unwrap_err().exception(),
            EcsException::UnsupportedFeatureException
        );
    }

    #[test]
    fn names_follow_ecs_rules() {
        assert!(is_valid_name("log-agent_1"));
        for bad in ["", "has space", "dot.name", &"x".repeat(256)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}

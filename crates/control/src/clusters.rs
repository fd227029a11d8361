//! Clusters: CreateCluster, DescribeClusters, ListClusters, DeleteCluster, UpdateCluster, UpdateClusterSettings.

use crate::cache::State;
use crate::optimistic::Attempt;
use crate::paging::{page_size, paginate};
use crate::records::{ClusterRecord, ClusterSettingRecord, StoredTag, StrategyItem, keys};
use crate::status::{ClusterStatus, InstanceStatus, ServiceStatus, TaskStatus};
use crate::tags::validate_tags;
use crate::{Control, ControlError, EcsException, Result, encode, resolve_cluster_name};
use berth_model::ecs::task_definition::is_valid_name;
use berth_model::ecs::{
    Cluster, ClusterField, ClusterServiceConnectDefaults, ClusterSetting, ClusterSettingName, CreateClusterRequest,
    CreateClusterResponse, DeleteClusterRequest, DeleteClusterResponse, DescribeClustersRequest,
    DescribeClustersResponse, Failure, KeyValuePair, ListClustersRequest, ListClustersResponse, UpdateClusterRequest,
    UpdateClusterResponse, UpdateClusterSettingsRequest, UpdateClusterSettingsResponse,
};
use berth_store::Txn;

fn validate_settings(settings: &[ClusterSetting]) -> Result<()> {
    for s in settings {
        match (s.name, s.value.as_deref()) {
            (Some(ClusterSettingName::ContainerInsights), Some("enabled" | "disabled" | "enhanced")) => {}
            (Some(ClusterSettingName::ContainerInsights), value) => {
                return Err(ControlError::invalid(format!(
                    "Invalid value {value:?} for cluster setting containerInsights: use enabled, disabled or enhanced."
                )));
            }
            (None, _) => return Err(ControlError::invalid("A cluster setting needs a name.")),
        }
    }
    Ok(())
}

fn merge_settings(existing: &[ClusterSetting], new: &[ClusterSetting]) -> Vec<ClusterSetting> {
    let mut out: Vec<ClusterSetting> =
        existing.iter().filter(|s| !new.iter().any(|n| n.name == s.name)).cloned().collect();
    out.extend(new.iter().cloned());
    out
}

/// Merges settings given in a request into a cluster record's.
fn merge_stored_settings(record: &mut ClusterRecord, new: &[ClusterSetting]) {
    let existing: Vec<ClusterSetting> = record.settings.iter().map(ClusterSettingRecord::to_wire).collect();
    record.settings = merge_settings(&existing, new).iter().filter_map(ClusterSettingRecord::from_wire).collect();
}

/// The live counters of a cluster, computed from the cache.
#[derive(Debug, Default)]
struct Counts {
    instances: i32,
    running: i32,
    pending: i32,
    running_fargate: i32,
    pending_fargate: i32,
    active_services: i32,
    draining_services: i32,
    active_fargate_services: i32,
    draining_fargate_services: i32,
}

impl Control {
    pub(crate) async fn ensure_default_cluster(&self) -> Result<()> {
        let exists = self.cache.read().clusters.contains_key("default");
        if !exists {
            self.create_cluster(CreateClusterRequest { cluster_name: Some("default".into()), ..Default::default() })
                .await?;
        }
        Ok(())
    }

    /// `CreateCluster`: creates a cluster, or returns the existing ACTIVE one of that name (as ECS does).
    pub async fn create_cluster(&self, req: CreateClusterRequest) -> Result<CreateClusterResponse> {
        let name = req.cluster_name.clone().unwrap_or_else(|| "default".into());
        if !is_valid_name(&name) {
            return Err(ControlError::invalid(
                "Cluster names can have up to 255 characters: letters (uppercase and lowercase), numbers, hyphens and underscores.",
            ));
        }
        let tags = req.tags.clone().unwrap_or_default();
        validate_tags(&tags)?;
        let settings = req.settings.clone().unwrap_or_default();
        validate_settings(&settings)?;
        crate::exec::validate_cluster_configuration(req.configuration.as_ref())?;
        let providers = req.capacity_providers.clone().unwrap_or_default();
        crate::capacity_providers::check_strategy_against(
            req.default_capacity_provider_strategy.as_deref().unwrap_or_default(),
            &providers,
        )?;
        // A cluster created without its own containerInsights setting gets the account's value in effect.
        let insights_default =
            self.effective_account_setting(berth_model::ecs::SettingName::ContainerInsights, &self.root_principal());
        let record = self
            .write("creating a cluster", |state, now| {
                crate::capacity_providers::check_providers_exist(state, &providers)?;
                let existing = state.clusters.get(&name);
                if let Some(v) = existing
                    && v.record.status() == Some(ClusterStatus::Active)
                {
                    return Ok(Attempt::Done((*v.record).clone()));
                }
                let settings = merge_settings(
                    &[ClusterSetting {
                        name: Some(ClusterSettingName::ContainerInsights),
                        value: insights_default.value.clone(),
                    }],
                    &settings,
                );
                let record = ClusterRecord {
                    name: name.clone(),
                    arn: self.arn(&format!("cluster/{name}")),
                    status: ClusterStatus::Active,
                    settings: settings.iter().filter_map(ClusterSettingRecord::from_wire).collect(),
                    configuration: req.configuration.clone(),
                    capacity_providers: providers.clone(),
                    default_capacity_provider_strategy: req
                        .default_capacity_provider_strategy
                        .iter()
                        .flatten()
                        .map(StrategyItem::from_wire)
                        .collect(),
                    service_connect_namespace: req.service_connect_defaults.as_ref().map(|d| d.namespace.clone()),
                    tags: StoredTag::from_wire(&tags),
                    created_at: now,
                };
                let key = keys::cluster(&name);
                let revision = existing.map(|v| v.mod_revision).unwrap_or(0);
                Ok(Attempt::Commit(Txn::new().expect(key.clone(), revision).put(key, encode(&record)?), record))
            })
            .await?;
        Ok(CreateClusterResponse { cluster: Some(self.render_cluster(&record, true, true)) })
    }

    fn counts(&self, name: &str) -> Counts {
        counts(&self.cache.read(), name)
    }
}

/// A cluster's counters, computed from the cache state.
fn counts(state: &State, name: &str) -> Counts {
    let mut counts = Counts::default();
    let from = (name.to_string(), String::new());
    for ((cluster, _), v) in state.instances.range(from.clone()..) {
        if cluster != name {
            break;
        }
        if matches!(v.record.status(), Some(InstanceStatus::Active | InstanceStatus::Draining)) {
            counts.instances += 1;
        }
    }
    for ((cluster, _), v) in state.services.range(from.clone()..) {
        if cluster != name {
            break;
        }
        let fargate = i32::from(v.record.launch_type == Some(crate::status::TaskLaunchType::Fargate));
        match v.record.status() {
            Some(ServiceStatus::Active) => {
                counts.active_services += 1;
                counts.active_fargate_services += fargate;
            }
            Some(ServiceStatus::Draining) => {
                counts.draining_services += 1;
                counts.draining_fargate_services += fargate;
            }
            _ => {}
        }
    }
    for ((cluster, _), v) in state.tasks.range(from..) {
        if cluster != name {
            break;
        }
        let fargate = v.record.launch_type == Some(crate::status::TaskLaunchType::Fargate);
        match v.record.last_status() {
            Some(TaskStatus::Running) => {
                counts.running += 1;
                counts.running_fargate += i32::from(fargate);
            }
            Some(TaskStatus::Provisioning | TaskStatus::Pending | TaskStatus::Activating) => {
                counts.pending += 1;
                counts.pending_fargate += i32::from(fargate);
            }
            _ => {}
        }
    }
    counts
}

impl Control {
    /// The cluster as ECS shows it: the record's fields and the counters computed from the cache.
    pub(crate) fn render_cluster(&self, record: &ClusterRecord, with_settings: bool, with_tags: bool) -> Cluster {
        let counts = self.counts(&record.name);
        Cluster {
            cluster_arn: Some(record.arn.clone()),
            cluster_name: Some(record.name.clone()),
            configuration: record.configuration.clone(),
            status: Some(record.status.as_str().to_string()),
            registered_container_instances_count: counts.instances,
            running_tasks_count: counts.running,
            pending_tasks_count: counts.pending,
            active_services_count: counts.active_services,
            statistics: Some(Vec::new()),
            tags: with_tags.then(|| StoredTag::to_wire(&record.tags)),
            settings: with_settings.then(|| record.settings.iter().map(ClusterSettingRecord::to_wire).collect()),
            capacity_providers: Some(record.capacity_providers.clone()),
            default_capacity_provider_strategy: Some(
                record.default_capacity_provider_strategy.iter().map(StrategyItem::to_wire).collect(),
            ),
            attachments: None,
            attachments_status: None,
            service_connect_defaults: record
                .service_connect_namespace
                .as_ref()
                .map(|n| ClusterServiceConnectDefaults { namespace: Some(n.clone()) }),
        }
    }

    /// `DescribeClusters`.
    pub fn describe_clusters(&self, req: DescribeClustersRequest) -> Result<DescribeClustersResponse> {
        let names = req.clusters.clone().unwrap_or_else(|| vec!["default".into()]);
        if names.len() > 100 {
            return Err(ControlError::invalid("You can describe up to 100 clusters in one call."));
        }
        let include = req.include.clone().unwrap_or_default();
        let with = |f: ClusterField| include.contains(&f);
        let mut clusters = Vec::new();
        let mut failures = Vec::new();
        for text in &names {
            let name = resolve_cluster_name(Some(text))?;
            let record = self.cache.read().clusters.get(&name).map(|v| v.record.clone());
            match record {
                Some(record) => {
                    let mut cluster =
                        self.render_cluster(&record, with(ClusterField::Settings), with(ClusterField::Tags));
                    if with(ClusterField::Statistics) {
                        let counts = self.counts(&name);
                        let stat = |n: &str, v: i32| KeyValuePair { name: Some(n.into()), value: Some(v.to_string()) };
                        cluster.statistics = Some(vec![
                            stat("runningEC2TasksCount", counts.running - counts.running_fargate),
                            stat("runningFargateTasksCount", counts.running_fargate),
                            stat("pendingEC2TasksCount", counts.pending - counts.pending_fargate),
                            stat("pendingFargateTasksCount", counts.pending_fargate),
                            stat("activeEC2ServiceCount", counts.active_services - counts.active_fargate_services),
                            stat("activeFargateServiceCount", counts.active_fargate_services),
                            stat(
                                "drainingEC2ServiceCount",
                                counts.draining_services - counts.draining_fargate_services,
                            ),
                            stat("drainingFargateServiceCount", counts.draining_fargate_services),
                        ]);
                    }
                    if !with(ClusterField::Configurations) {
                        cluster.configuration = None;
                    }
                    clusters.push(cluster);
                }
                None => failures.push(Failure {
                    arn: Some(self.arn(&format!("cluster/{name}"))),
                    reason: Some("MISSING".into()),
                    detail: None,
                }),
            }
        }
        Ok(DescribeClustersResponse { clusters: Some(clusters), failures: Some(failures) })
    }

    /// `ListClusters`: the ARNs of ACTIVE clusters, in name order.
    pub fn list_clusters(&self, req: ListClustersRequest) -> Result<ListClustersResponse> {
        let size = page_size(req.max_results, 100, 100)?;
        let items: Vec<(String, String)> = self
            .cache
            .read()
            .clusters
            .iter()
            .filter(|(_, v)| v.record.status() == Some(ClusterStatus::Active))
            .map(|(name, v)| (name.clone(), v.record.arn.clone()))
            .collect();
        let page = paginate(items, req.next_token.as_deref(), size)?;
        Ok(ListClustersResponse { cluster_arns: Some(page.items), next_token: page.next_token })
    }

    /// `DeleteCluster`: refused while the cluster has container instances, services, ACTIVE daemons or tasks; then
    /// INACTIVE.
    pub async fn delete_cluster(&self, req: DeleteClusterRequest) -> Result<DeleteClusterResponse> {
        let name = self.cluster_name(Some(&req.cluster))?;
        let record = self
            .write("deleting a cluster", |state, _| {
                let counts = counts(state, &name);
                if counts.instances > 0 {
                    return Err(ControlError::ecs(
                        EcsException::ClusterContainsContainerInstancesException,
                        "The Cluster cannot be deleted while Container Instances are active or draining.",
                    ));
                }
                if counts.active_services + counts.draining_services > 0 {
                    return Err(ControlError::ecs(
                        EcsException::ClusterContainsServicesException,
                        "The Cluster cannot be deleted while Services are active.",
                    ));
                }
                let active_daemon = state
                    .daemons
                    .range((name.clone(), String::new())..)
                    .take_while(|((c, _), _)| *c == name)
                    .any(|(_, v)| v.record.status == berth_model::ecs::DaemonStatus::Active);
                if active_daemon {
                    return Err(ControlError::client(
                        "The Cluster cannot be deleted while Daemons are active. Delete them first.",
                    ));
                }
                let active_tasks = state
                    .tasks
                    .range((name.clone(), String::new())..)
                    .take_while(|((c, _), _)| *c == name)
                    .any(|(_, v)| v.record.last_status() != Some(TaskStatus::Stopped));
                if active_tasks {
                    return Err(ControlError::ecs(
                        EcsException::ClusterContainsTasksException,
                        "The Cluster cannot be deleted while Tasks are active.",
                    ));
                }
                let Some(v) = state.clusters.get(&name) else {
                    return Err(ControlError::cluster_not_found());
                };
                let mut record = (*v.record).clone();
                record.set_status(ClusterStatus::Inactive);
                let key = keys::cluster(&name);
                Ok(Attempt::Commit(Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?), record))
            })
            .await?;
        Ok(DeleteClusterResponse { cluster: Some(self.render_cluster(&record, true, true)) })
    }

    async fn modify_cluster(&self, cluster: &str, change: impl Fn(&mut ClusterRecord)) -> Result<Cluster> {
        let name = self.cluster_name(Some(cluster))?;
        let record = self
            .write("updating a cluster", |state, _| {
                let Some(v) = state.clusters.get(&name) else {
                    return Err(ControlError::cluster_not_found());
                };
                let mut record = (*v.record).clone();
                change(&mut record);
                let key = keys::cluster(&name);
                Ok(Attempt::Commit(Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?), record))
            })
            .await?;
        Ok(self.render_cluster(&record, true, false))
    }

    /// `UpdateCluster`.
    pub async fn update_cluster(&self, req: UpdateClusterRequest) -> Result<UpdateClusterResponse> {
        let settings = req.settings.clone().unwrap_or_default();
        validate_settings(&settings)?;
        crate::exec::validate_cluster_configuration(req.configuration.as_ref())?;
        let cluster = self
            .modify_cluster(&req.cluster, |c| {
                merge_stored_settings(c, &settings);
                if let Some(configuration) = &req.configuration {
                    c.configuration = Some(configuration.clone());
                }
                if let Some(d) = &req.service_connect_defaults {
                    c.service_connect_namespace = Some(d.namespace.clone());
                }
            })
            .await?;
        Ok(UpdateClusterResponse { cluster: Some(cluster) })
    }

    /// `UpdateClusterSettings`.
    pub async fn update_cluster_settings(
        &self,
        req: UpdateClusterSettingsRequest,
    ) -> Result<UpdateClusterSettingsResponse> {
        validate_settings(&req.settings)?;
        let cluster = self.modify_cluster(&req.cluster, |c| merge_stored_settings(c, &req.settings)).await?;
        Ok(UpdateClusterSettingsResponse { cluster: Some(cluster) })
    }
}

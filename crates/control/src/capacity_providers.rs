//! Capacity providers: CreateCapacityProvider, UpdateCapacityProvider, DeleteCapacityProvider,
//! DescribeCapacityProviders and PutClusterCapacityProviders.
//!
//! A capacity provider Berth stores is ECS's Auto Scaling group provider: its `autoScalingGroupArn` (an ARN or a
//! name) names a *node group*, the container instances whose agents were started with `--node-group NAME`
//! (ARCHITECTURE.md, "Capacity providers, as built"). `FARGATE` and `FARGATE_SPOT` are built in: every account has
//! them, they have no record, and DescribeCapacityProviders lists them as ECS does.
//!
//! Managed scaling ENABLED publishes CapacityProviderReservation (`managed_scaling`). Current limitations: no node
//! provider adds or removes instances yet (the operator starts agents with `--node-group`);
//! `managedInstancesProvider` (ECS Managed Instances) is refused too.

use crate::optimistic::Attempt;
use crate::paging::{page_size, paginate};
use crate::records::{
    CapacityProviderRecord, ClusterRecord, ManagedScalingRecord, ProviderStatus, ProviderUpdateStatus, StoredTag,
    StrategyItem, keys,
};
use crate::status::{ClusterStatus, ServiceStatus};
use crate::tags::validate_tags;
use crate::tasks::fargate::{FARGATE, FARGATE_SPOT, is_fargate_provider};
use crate::{Control, ControlError, EcsException, Result, encode};
use berth_model::arn::is_arn;
use berth_model::ecs::{
    AutoScalingGroupProvider, CapacityProvider, CapacityProviderField, CapacityProviderStatus,
    CapacityProviderStrategyItem, CapacityProviderType, CapacityProviderUpdateStatus, CreateCapacityProviderRequest,
    CreateCapacityProviderResponse, DeleteCapacityProviderRequest, DeleteCapacityProviderResponse,
    DescribeCapacityProvidersRequest, DescribeCapacityProvidersResponse, Failure, ManagedDraining, ManagedScaling,
    ManagedScalingStatus, ManagedTerminationProtection, PutClusterCapacityProvidersRequest,
    PutClusterCapacityProvidersResponse, UpdateCapacityProviderRequest, UpdateCapacityProviderResponse,
};
use berth_store::Txn;

/// ECS's message for a capacity provider name it does not take.
pub const INVALID_NAME: &str = "The specified capacity provider name is invalid. Up to 255 characters are allowed, including letters (upper and lowercase), numbers, underscores, and hyphens. The name cannot be prefixed with \"aws\", \"ecs\", or \"fargate\". Specify a valid name and try again.";

/// ECS's message for CreateCapacityProvider with a name that is taken.
pub const ALREADY_EXISTS: &str = "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.";

/// ECS's message for a capacity provider that does not exist (UpdateCapacityProvider, DeleteCapacityProvider).
pub const DOES_NOT_EXIST: &str =
    "The specified capacity provider does not exist. Specify a valid name or ARN and try again.";

/// ECS's message (InvalidParameterException) for a cluster naming a capacity provider that does not exist.
pub const NOT_FOUND: &str =
    "The specified capacity provider was not found. Specify a valid capacity provider and try again.";

/// ECS's message (ResourceInUseException) for removing a capacity provider a service's strategy uses.
pub const IN_USE: &str = "The specified capacity provider is in use and cannot be removed.";

/// ECS's message for a strategy that mixes node group and Fargate providers.
pub const MIXED_STRATEGY: &str = "A capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers. Specify one or the other and try again.";

/// ECS's first sentence, with Berth's reason, for managed termination protection without managed scaling.
pub const TERMINATION_PROTECTION_NEEDS_SCALING: &str = "The managed termination protection setting for the capacity provider is invalid. To enable managed termination protection for a capacity provider, managed scaling must be turned on.";

/// Berth's message for ECS Managed Instances.
pub const MANAGED_INSTANCES_UNSUPPORTED: &str = "managedInstancesProvider (Amazon ECS Managed Instances) is not supported by Berth yet; create an autoScalingGroupProvider whose autoScalingGroupArn names a node group (berth agent --node-group NAME).";

/// The most capacity providers DescribeCapacityProviders names in one call.
const MAX_DESCRIBE: usize = 100;

/// Whether ECS takes `name` for a new capacity provider: 1-255 letters, numbers, hyphens and underscores, not
/// starting with `aws`, `ecs` or `fargate` (any case).
pub fn is_valid_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !["aws", "ecs", "fargate"].iter().any(|p| lower.starts_with(p))
}

/// Managed scaling as given, with ECS's defaults and bounds; `base` holds the values an update does not name.
pub fn managed_scaling(given: Option<&ManagedScaling>, base: ManagedScalingRecord) -> Result<ManagedScalingRecord> {
    let Some(given) = given else { return Ok(base) };
    let check = |value: Option<i32>, name: &str, min: i32, max: i32, default: i32| -> Result<i32> {
        match value {
            None => Ok(default),
            Some(v) if (min..=max).contains(&v) => Ok(v),
            Some(v) => Err(ControlError::invalid(format!(
                "managedScaling.{name} must be between {min} and {max}; {v} was given."
            ))),
        }
    };
    let defaults = ManagedScalingRecord::default();
    let out = ManagedScalingRecord {
        enabled: given.status.map(|s| s == ManagedScalingStatus::Enabled).unwrap_or(base.enabled),
        target_capacity: check(given.target_capacity, "targetCapacity", 1, 100, defaults.target_capacity)?,
        minimum_scaling_step_size: check(
            given.minimum_scaling_step_size,
            "minimumScalingStepSize",
            1,
            10_000,
            defaults.minimum_scaling_step_size,
        )?,
        maximum_scaling_step_size: check(
            given.maximum_scaling_step_size,
            "maximumScalingStepSize",
            1,
            10_000,
            defaults.maximum_scaling_step_size,
        )?,
        instance_warmup_period: check(
            given.instance_warmup_period,
            "instanceWarmupPeriod",
            0,
            10_000,
            defaults.instance_warmup_period,
        )?,
    };
    if out.minimum_scaling_step_size > out.maximum_scaling_step_size {
        return Err(ControlError::invalid(
            "managedScaling.minimumScalingStepSize must not be greater than maximumScalingStepSize.",
        ));
    }
    Ok(out)
}

/// Checks the managed settings together: termination protection needs managed scaling.
fn check_managed(scaling: &ManagedScalingRecord, termination_protection: bool) -> Result<()> {
    if termination_protection && !scaling.enabled {
        return Err(ControlError::client(TERMINATION_PROTECTION_NEEDS_SCALING));
    }
    Ok(())
}

/// The name a capacity provider parameter names: the last part of an ARN, or the name itself.
fn provider_name(text: &str) -> &str {
    if is_arn(text) { text.rsplit('/').next().unwrap_or(text) } else { text }
}

fn not_exist() -> ControlError {
    ControlError::client(DOES_NOT_EXIST)
}

fn on_off(on: bool) -> (ManagedTerminationProtection, ManagedDraining) {
    if on {
        (ManagedTerminationProtection::Enabled, ManagedDraining::Enabled)
    } else {
        (ManagedTerminationProtection::Disabled, ManagedDraining::Disabled)
    }
}

/// Checks a capacity provider strategy against the providers of the cluster it is used in (or set as default in):
/// ECS's bounds, each named provider associated with the cluster, no mix of Fargate and node group providers.
pub fn check_strategy_against(strategy: &[CapacityProviderStrategyItem], providers: &[String]) -> Result<()> {
    crate::tasks::fargate::check_strategy(strategy)?;
    if strategy.iter().any(|i| !providers.contains(&i.capacity_provider)) {
        return Err(ControlError::invalid(crate::tasks::fargate::NOT_ASSOCIATED));
    }
    check_not_mixed(strategy)
}

/// Refuses a strategy that names both Fargate and node group providers.
pub fn check_not_mixed(strategy: &[CapacityProviderStrategyItem]) -> Result<()> {
    let fargate = strategy.iter().filter(|i| is_fargate_provider(&i.capacity_provider)).count();
    if fargate > 0 && fargate < strategy.len() {
        return Err(ControlError::invalid(MIXED_STRATEGY));
    }
    Ok(())
}

impl Control {
    /// A capacity provider as ECS shows it (`tags` only when asked for).
    fn render_capacity_provider(&self, record: &CapacityProviderRecord, with_tags: bool) -> CapacityProvider {
        let scaling = record.managed_scaling;
        let (protection, _) = on_off(record.managed_termination_protection);
        let (_, draining) = on_off(record.managed_draining);
        CapacityProvider {
            capacity_provider_arn: Some(record.arn.clone()),
            name: Some(record.name.clone()),
            status: Some(match record.status {
                ProviderStatus::Active => CapacityProviderStatus::Active,
                ProviderStatus::Inactive => CapacityProviderStatus::Inactive,
            }),
            auto_scaling_group_provider: Some(AutoScalingGroupProvider {
                auto_scaling_group_arn: record.auto_scaling_group_arn.clone(),
                managed_scaling: Some(ManagedScaling {
                    status: Some(if scaling.enabled {
                        ManagedScalingStatus::Enabled
                    } else {
                        ManagedScalingStatus::Disabled
                    }),
                    target_capacity: Some(scaling.target_capacity),
                    minimum_scaling_step_size: Some(scaling.minimum_scaling_step_size),
                    maximum_scaling_step_size: Some(scaling.maximum_scaling_step_size),
                    instance_warmup_period: Some(scaling.instance_warmup_period),
                }),
                managed_termination_protection: Some(protection),
                managed_draining: Some(draining),
            }),
            update_status: record.update_status.map(|s| match s {
                ProviderUpdateStatus::UpdateComplete => CapacityProviderUpdateStatus::UpdateComplete,
                ProviderUpdateStatus::DeleteInProgress => CapacityProviderUpdateStatus::DeleteInProgress,
                ProviderUpdateStatus::DeleteComplete => CapacityProviderUpdateStatus::DeleteComplete,
            }),
            update_status_reason: record.update_status_reason.clone(),
            tags: with_tags.then(|| StoredTag::to_wire(&record.tags)),
            r#type: Some(CapacityProviderType::Ec2Autoscaling),
            ..Default::default()
        }
    }

    /// A built-in Fargate capacity provider as ECS shows it.
    fn render_fargate_provider(&self, name: &str, with_tags: bool) -> CapacityProvider {
        CapacityProvider {
            capacity_provider_arn: Some(self.arn(&format!("capacity-provider/{name}"))),
            name: Some(name.to_string()),
            status: Some(CapacityProviderStatus::Active),
            tags: with_tags.then(Vec::new),
            r#type: Some(if name == FARGATE {
                CapacityProviderType::Fargate
            } else {
                CapacityProviderType::FargateSpot
            }),
            ..Default::default()
        }
    }

    /// `CreateCapacityProvider`.
    pub async fn create_capacity_provider(
        &self,
        req: CreateCapacityProviderRequest,
    ) -> Result<CreateCapacityProviderResponse> {
        if req.managed_instances_provider.is_some() {
            return Err(ControlError::ecs(EcsException::UnsupportedFeatureException, MANAGED_INSTANCES_UNSUPPORTED));
        }
        if !is_valid_name(&req.name) {
            return Err(ControlError::client(INVALID_NAME));
        }
        let Some(group) = req.auto_scaling_group_provider.as_ref() else {
            return Err(ControlError::invalid(
                "autoScalingGroupProvider is required: it names the node group whose instances the capacity provider offers.",
            ));
        };
        if group.auto_scaling_group_arn.trim().is_empty() {
            return Err(ControlError::invalid("autoScalingGroupProvider.autoScalingGroupArn must not be empty."));
        }
        if crate::records::capacity_provider::node_group_of(&group.auto_scaling_group_arn).len() > 255 {
            return Err(ControlError::invalid(
                "The node group name of autoScalingGroupArn can have up to 255 characters.",
            ));
        }
        let tags = req.tags.clone().unwrap_or_default();
        validate_tags(&tags)?;
        let scaling = managed_scaling(group.managed_scaling.as_ref(), ManagedScalingRecord::default())?;
        let protection = group.managed_termination_protection == Some(ManagedTerminationProtection::Enabled);
        check_managed(&scaling, protection)?;
        let record = self
            .write("creating a capacity provider", |state, now| {
                let existing = state.capacity_providers.get(&req.name);
                if existing.is_some_and(|v| v.record.status == ProviderStatus::Active) {
                    return Err(ControlError::client(ALREADY_EXISTS));
                }
                // ECS lets one Auto Scaling group back one capacity provider.
                if state.capacity_providers.values().any(|v| {
                    v.record.status == ProviderStatus::Active
                        && v.record.node_group()
                            == crate::records::capacity_provider::node_group_of(&group.auto_scaling_group_arn)
                }) {
                    return Err(ControlError::client(format!(
                        "The specified Auto Scaling group {} is already in use by another capacity provider. Specify a different Auto Scaling group and try again.",
                        group.auto_scaling_group_arn
                    )));
                }
                let record = CapacityProviderRecord {
                    name: req.name.clone(),
                    arn: self.arn(&format!("capacity-provider/{}", req.name)),
                    status: ProviderStatus::Active,
                    auto_scaling_group_arn: group.auto_scaling_group_arn.clone(),
                    managed_scaling: scaling,
                    managed_termination_protection: protection,
                    // ECS turns managed draining on unless it is turned off.
                    managed_draining: group.managed_draining != Some(ManagedDraining::Disabled),
                    update_status: None,
                    update_status_reason: None,
                    tags: StoredTag::from_wire(&tags),
                    created_at: now,
                };
                let key = keys::capacity_provider(&req.name);
                let revision = existing.map(|v| v.mod_revision).unwrap_or(0);
                Ok(Attempt::Commit(Txn::new().expect(key.clone(), revision).put(key, encode(&record)?), record))
            })
            .await?;
        Ok(CreateCapacityProviderResponse { capacity_provider: Some(self.render_capacity_provider(&record, true)) })
    }

    /// `UpdateCapacityProvider`: the managed settings named are replaced; the node group stays.
    pub async fn update_capacity_provider(
        &self,
        req: UpdateCapacityProviderRequest,
    ) -> Result<UpdateCapacityProviderResponse> {
        if req.managed_instances_provider.is_some() {
            return Err(ControlError::ecs(EcsException::UnsupportedFeatureException, MANAGED_INSTANCES_UNSUPPORTED));
        }
        let name = provider_name(&req.name).to_string();
        if is_fargate_provider(&name) {
            return Err(ControlError::client(format!(
                "The {name} capacity provider is managed by AWS and cannot be updated."
            )));
        }
        let update = req.auto_scaling_group_provider.clone().unwrap_or_default();
        let record = self
            .write("updating a capacity provider", |state, _| {
                let Some(v) = state.capacity_providers.get(&name) else { return Err(not_exist()) };
                if v.record.status != ProviderStatus::Active {
                    return Err(not_exist());
                }
                let mut record = (*v.record).clone();
                record.managed_scaling = managed_scaling(update.managed_scaling.as_ref(), record.managed_scaling)?;
                if let Some(p) = update.managed_termination_protection {
                    record.managed_termination_protection = p == ManagedTerminationProtection::Enabled;
                }
                if let Some(d) = update.managed_draining {
                    record.managed_draining = d == ManagedDraining::Enabled;
                }
                check_managed(&record.managed_scaling, record.managed_termination_protection)?;
                record.update_status = Some(ProviderUpdateStatus::UpdateComplete);
                record.update_status_reason = None;
                let key = keys::capacity_provider(&name);
                Ok(Attempt::Commit(Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?), record))
            })
            .await?;
        Ok(UpdateCapacityProviderResponse { capacity_provider: Some(self.render_capacity_provider(&record, true)) })
    }

    /// `DeleteCapacityProvider`: refused while a cluster names it; the answer shows `DELETE_IN_PROGRESS`, as ECS's
    /// does, and the record is `INACTIVE` (`DELETE_COMPLETE`) from then on.
    pub async fn delete_capacity_provider(
        &self,
        req: DeleteCapacityProviderRequest,
    ) -> Result<DeleteCapacityProviderResponse> {
        let name = provider_name(&req.capacity_provider).to_string();
        if is_fargate_provider(&name) {
            return Err(ControlError::client(format!(
                "The {name} capacity provider is managed by AWS and cannot be deleted."
            )));
        }
        let record = self
            .write("deleting a capacity provider", |state, _| {
                let Some(v) = state.capacity_providers.get(&name) else { return Err(not_exist()) };
                if v.record.status != ProviderStatus::Active {
                    return Err(not_exist());
                }
                if let Some(cluster) = state.clusters.values().find(|c| {
                    c.record.status == ClusterStatus::Active && c.record.capacity_providers.contains(&name)
                }) {
                    return Err(ControlError::ecs(
                        EcsException::ResourceInUseException,
                        format!(
                            "The capacity provider cannot be deleted because it is associated with cluster: {}. Remove the capacity provider from the cluster and try again.",
                            cluster.record.name
                        ),
                    ));
                }
                let mut record = (*v.record).clone();
                record.status = ProviderStatus::Inactive;
                record.update_status = Some(ProviderUpdateStatus::DeleteComplete);
                record.update_status_reason = None;
                let key = keys::capacity_provider(&name);
                let answer = CapacityProviderRecord {
                    status: ProviderStatus::Active,
                    update_status: Some(ProviderUpdateStatus::DeleteInProgress),
                    ..record.clone()
                };
                Ok(Attempt::Commit(Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?), answer))
            })
            .await?;
        Ok(DeleteCapacityProviderResponse { capacity_provider: Some(self.render_capacity_provider(&record, true)) })
    }

    /// `DescribeCapacityProviders`: the named ones (names or ARNs), or every one (FARGATE and FARGATE_SPOT
    /// first, then the account's in name order), ten to a page unless `maxResults` says otherwise.
    pub fn describe_capacity_providers(
        &self,
        req: DescribeCapacityProvidersRequest,
    ) -> Result<DescribeCapacityProvidersResponse> {
        let with_tags = req.include.iter().flatten().any(|f| *f == CapacityProviderField::Tags);
        let state = self.cache.read();
        let cluster = match req.cluster.as_deref().filter(|c| !c.is_empty()) {
            Some(text) => {
                let name = crate::resolve_cluster_name(Some(text))?;
                match state.clusters.get(&name) {
                    Some(c) if c.record.status == ClusterStatus::Active => Some(c.record.clone()),
                    _ => return Err(ControlError::cluster_not_found()),
                }
            }
            None => None,
        };
        let render = |name: &str| -> Option<CapacityProvider> {
            if is_fargate_provider(name) {
                return Some(self.render_fargate_provider(name, with_tags));
            }
            state.capacity_providers.get(name).map(|v| self.render_capacity_provider(&v.record, with_tags))
        };
        let named = req.capacity_providers.clone().unwrap_or_default();
        if !named.is_empty() {
            if named.len() > MAX_DESCRIBE {
                return Err(ControlError::invalid(format!(
                    "capacityProviders can name up to {MAX_DESCRIBE} capacity providers."
                )));
            }
            let (mut found, mut failures) = (Vec::new(), Vec::new());
            for text in &named {
                match render(provider_name(text)) {
                    Some(p) => found.push(p),
                    None => failures.push(Failure {
                        arn: Some(if is_arn(text) {
                            text.clone()
                        } else {
                            self.arn(&format!("capacity-provider/{text}"))
                        }),
                        reason: Some("MISSING".into()),
                        detail: None,
                    }),
                }
            }
            return Ok(DescribeCapacityProvidersResponse {
                capacity_providers: Some(found),
                failures: Some(failures),
                next_token: None,
            });
        }
        let size = page_size(req.max_results, 10, 10)?;
        // Sort keys: the built-in providers first, then the account's by name.
        let mut all: Vec<(String, String)> =
            [FARGATE, FARGATE_SPOT].iter().map(|n| (format!("0{n}"), n.to_string())).collect();
        all.extend(
            state
                .capacity_providers
                .values()
                .filter(|v| v.record.status == ProviderStatus::Active)
                .map(|v| (format!("1{}", v.record.name), v.record.name.clone())),
        );
        if let Some(cluster) = &cluster {
            all.retain(|(_, n)| cluster.capacity_providers.contains(n));
        }
        all.sort();
        let page = paginate(all, req.next_token.as_deref(), size)?;
        Ok(DescribeCapacityProvidersResponse {
            capacity_providers: Some(page.items.iter().filter_map(|n| render(n)).collect()),
            failures: Some(Vec::new()),
            next_token: page.next_token,
        })
    }

    /// `PutClusterCapacityProviders`: replaces the cluster's capacity providers and default strategy.
    pub async fn put_cluster_capacity_providers(
        &self,
        req: PutClusterCapacityProvidersRequest,
    ) -> Result<PutClusterCapacityProvidersResponse> {
        let cluster = crate::resolve_cluster_name(Some(&req.cluster))?;
        let providers: Vec<String> = req.capacity_providers.iter().map(|p| provider_name(p).to_string()).collect();
        let mut sorted = providers.clone();
        sorted.sort();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(ControlError::invalid("capacityProviders names a capacity provider more than once."));
        }
        if providers.len() > 20 {
            return Err(ControlError::invalid("A cluster can have at most 20 capacity providers."));
        }
        let strategy: Vec<CapacityProviderStrategyItem> = req
            .default_capacity_provider_strategy
            .iter()
            .map(|i| CapacityProviderStrategyItem {
                capacity_provider: provider_name(&i.capacity_provider).to_string(),
                ..i.clone()
            })
            .collect();
        check_strategy_against(&strategy, &providers)?;
        let record = self
            .write("putting a cluster's capacity providers", |state, _| {
                let Some(v) = state.clusters.get(&cluster).filter(|c| c.record.status == ClusterStatus::Active) else {
                    return Err(ControlError::cluster_not_found());
                };
                check_providers_exist(state, &providers)?;
                // A provider a service's strategy uses stays.
                let removed: Vec<&String> =
                    v.record.capacity_providers.iter().filter(|p| !providers.contains(p)).collect();
                let in_use = state.services.values().any(|s| {
                    s.record.cluster == cluster
                        && s.record.status != ServiceStatus::Inactive
                        && s.record.capacity_provider_strategy.iter().any(|i| removed.contains(&&i.capacity_provider))
                });
                if in_use {
                    return Err(ControlError::ecs(EcsException::ResourceInUseException, IN_USE));
                }
                // A provider a daemon of the cluster runs on stays too.
                if let Some((daemon, provider)) = crate::daemons::provider_in_use(state, &cluster, &removed) {
                    return Err(ControlError::ecs(
                        EcsException::ResourceInUseException,
                        format!(
                            "The capacity provider {provider} cannot be removed from the cluster because daemon \
                             {daemon} runs on it. Update or delete the daemon first."
                        ),
                    ));
                }
                let mut record: ClusterRecord = (*v.record).clone();
                record.capacity_providers = providers.clone();
                record.default_capacity_provider_strategy = strategy.iter().map(StrategyItem::from_wire).collect();
                let key = keys::cluster(&cluster);
                Ok(Attempt::Commit(Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?), record))
            })
            .await?;
        Ok(PutClusterCapacityProvidersResponse { cluster: Some(self.render_cluster(&record, true, true)) })
    }
}

/// Checks that every named provider is built in or an ACTIVE provider of the account.
pub(crate) fn check_providers_exist(state: &crate::cache::State, providers: &[String]) -> Result<()> {
    for name in providers {
        let known = is_fargate_provider(name)
            || state.capacity_providers.get(name).is_some_and(|v| v.record.status == ProviderStatus::Active);
        if !known {
            return Err(ControlError::invalid(NOT_FOUND));
        }
    }
    Ok(())
}

/// The ACTIVE capacity provider whose `autoScalingGroupArn` names node group `group` (one at most: a group backs
/// one provider).
pub(crate) fn provider_of_group(state: &crate::cache::State, group: &str) -> Option<String> {
    state
        .capacity_providers
        .values()
        .find(|v| v.record.status == ProviderStatus::Active && v.record.node_group() == group)
        .map(|v| v.record.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_ecs_rules() {
        assert!(is_valid_name("workers_1-a"));
        for bad in ["", "awsome", "ECS-x", "FargateMine", "has space", &"x".repeat(256)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn managed_scaling_takes_defaults_and_bounds() {
        let base = ManagedScalingRecord::default();
        let given = ManagedScaling { status: Some(ManagedScalingStatus::Enabled), ..Default::default() };
        let out = managed_scaling(Some(&given), base).unwrap();
        assert!(out.enabled);
        assert_eq!(
            (out.target_capacity, out.maximum_scaling_step_size, out.instance_warmup_period),
            (100, 10_000, 300)
        );
        for bad in [
            ManagedScaling { target_capacity: Some(0), ..Default::default() },
            ManagedScaling { target_capacity: Some(101), ..Default::default() },
            ManagedScaling { minimum_scaling_step_size: Some(0), ..Default::default() },
            ManagedScaling { instance_warmup_period: Some(10_001), ..Default::default() },
            ManagedScaling {
                minimum_scaling_step_size: Some(5),
                maximum_scaling_step_size: Some(4),
                ..Default::default()
            },
        ] {
            assert!(managed_scaling(Some(&bad), base).is_err(), "{bad:?}");
        }
        assert_eq!(managed_scaling(None, base).unwrap(), base);
    }

    #[test]
    fn termination_protection_needs_managed_scaling() {
        let off = ManagedScalingRecord::default();
        assert!(check_managed(&off, false).is_ok());
        assert!(check_managed(&off, true).unwrap_err().to_string().contains("termination protection"));
    }

    #[test]
    fn strategies_cannot_mix_fargate_and_node_groups() {
        let item = |n: &str| CapacityProviderStrategyItem { capacity_provider: n.into(), weight: Some(1), base: None };
        let providers = vec!["FARGATE".to_string(), "nodes".to_string()];
        assert!(check_strategy_against(&[item("FARGATE")], &providers).is_ok());
        assert!(check_strategy_against(&[item("nodes")], &providers).is_ok());
        let mixed = check_strategy_against(&[item("FARGATE"), item("nodes")], &providers).unwrap_err();
        assert!(mixed.to_string().contains("cannot contain a mix"));
        let absent = check_strategy_against(&[item("other")], &providers).unwrap_err();
        assert!(absent.to_string().contains("not associated"));
    }
}

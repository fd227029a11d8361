//! The FARGATE launch type's own rules: its capacity providers and their strategies, its platform versions, and
//! what a Fargate task shows (DescribeTasks, service events) that an EC2 task does not.
//!
//! Fargate capacity is a pool of container instances that belongs to no cluster (agents started with
//! `--capacity fargate`, kept under the hidden cluster name [`POOL`]) plus every instance whose agent also serves
//! Fargate (`berth up`'s local agent, `--capacity ec2,fargate`). ARCHITECTURE.md ("FARGATE, as built") has the
//! data model.

use crate::{ControlError, EcsException, Result};
use berth_model::ecs::{
    CPUArchitecture, CapacityProviderStrategyItem, Failure, PlacementConstraint, PlacementConstraintType,
    PlacementStrategy, TaskDefinition,
};
use std::collections::BTreeMap;

/// The store's cluster name for instances that serve only Fargate. Not a valid ECS cluster name (`~`), so no
/// CreateCluster can take it, and no cluster record exists for it: ListClusters and ListContainerInstances never
/// show it.
pub const POOL: &str = "~fargate";

/// The capacity provider of on-demand Fargate.
pub const FARGATE: &str = "FARGATE";
/// The capacity provider of Fargate Spot.
pub const FARGATE_SPOT: &str = "FARGATE_SPOT";

/// The platform version `LATEST` resolves to (Linux).
pub const PLATFORM_VERSION: &str = "1.4.0";
/// The platform family Fargate tasks show.
pub const PLATFORM_FAMILY: &str = "Linux";

/// ECS's reason (RunTask `failures[].reason`, the service event) when no Fargate capacity can take a task.
pub const CAPACITY_UNAVAILABLE: &str =
    "Capacity is unavailable at this time. Please try again later or in a different availability zone";

/// ECS's message for a strategy naming a capacity provider the cluster does not have.
pub const NOT_ASSOCIATED: &str = "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.";

/// Platform versions Fargate has had before 1.4.0: ECS still takes them, Berth runs only 1.4.0's behaviour.
const OLDER_PLATFORM_VERSIONS: [&str; 4] = ["1.0.0", "1.1.0", "1.2.0", "1.3.0"];

/// Fargate places its tasks itself (spread across Availability Zones): a request's placement constraints and
/// strategies are refused.
pub fn check_placement(constraints: &[PlacementConstraint], strategy: &[PlacementStrategy]) -> Result<()> {
    if !constraints.is_empty() {
        return Err(ControlError::invalid("Placement constraints are not supported with FARGATE launch type."));
    }
    if !strategy.is_empty() {
        return Err(ControlError::invalid("Placement strategies are not supported with FARGATE launch type."));
    }
    Ok(())
}

/// The constraint that keeps a Fargate task on capacity of its definition's `runtimePlatform.cpuArchitecture`
/// (none when it names none).
pub fn architecture_constraint(definition: &TaskDefinition) -> Option<PlacementConstraint> {
    let arch = definition.runtime_platform.as_ref()?.cpu_architecture?;
    let value = match arch {
        CPUArchitecture::Arm64 => "arm64",
        CPUArchitecture::X8664 => "x86_64",
    };
    Some(PlacementConstraint {
        r#type: Some(PlacementConstraintType::MemberOf),
        expression: Some(format!("attribute:ecs.cpu-architecture == {value}")),
    })
}

/// What a Fargate placement that left tasks unplaced answers: ECS's one reason, with the pool's own reasons (which
/// no Fargate user would see) summed up in the detail, naming the definition's CPU architecture when it has one.
pub fn capacity_failures(failures: Vec<Failure>, short: bool, definition: &TaskDefinition) -> Vec<Failure> {
    if !short {
        return Vec::new();
    }
    let mut reasons: Vec<String> = failures
        .iter()
        .filter_map(|f| {
            let reason = f.reason.clone()?;
            Some(match &f.detail {
                Some(detail) => format!("{reason} ({detail})"),
                None => reason,
            })
        })
        .collect();
    reasons.sort();
    reasons.dedup();
    let architecture = definition
        .runtime_platform
        .as_ref()
        .and_then(|p| p.cpu_architecture)
        .map(|a| format!(" of cpu architecture {a}"))
        .unwrap_or_default();
    let detail = if reasons.is_empty() {
        "no container instance serves Fargate capacity (berth agent --capacity fargate)".to_string()
    } else {
        format!("no Fargate capacity{architecture} fits the task: {}", reasons.join(", "))
    };
    vec![Failure { arn: None, reason: Some(CAPACITY_UNAVAILABLE.to_string()), detail: Some(detail) }]
}

/// Whether `name` is one of the Fargate capacity providers.
pub fn is_fargate_provider(name: &str) -> bool {
    name == FARGATE || name == FARGATE_SPOT
}

/// Resolves a Fargate request's `platformVersion`: absent, empty, `LATEST` and `1.4.0` are 1.4.0.
pub fn resolve_platform_version(requested: Option<&str>) -> Result<String> {
    match requested.map(str::trim).filter(|v| !v.is_empty()) {
        None | Some("LATEST") | Some(PLATFORM_VERSION) => Ok(PLATFORM_VERSION.to_string()),
        Some(older) if OLDER_PLATFORM_VERSIONS.contains(&older) => Err(ControlError::ecs(
            EcsException::UnsupportedFeatureException,
            format!("Fargate platform version {older} is not supported by Berth; use 1.4.0 or LATEST."),
        )),
        Some(_) => Err(ControlError::ecs(
            EcsException::PlatformUnknownException,
            "The specified platform version doesn't exist.",
        )),
    }
}

/// Checks a strategy's numbers as ECS bounds them: weights 0 to 1000, bases 0 to 100000, at most one base, each
/// provider once.
pub fn check_strategy(strategy: &[CapacityProviderStrategyItem]) -> Result<()> {
    if strategy.len() > 20 {
        return Err(ControlError::invalid("A capacity provider strategy can have at most 20 capacity providers."));
    }
    let mut bases = 0;
    for (i, item) in strategy.iter().enumerate() {
        if item.weight.is_some_and(|w| !(0..=1000).contains(&w)) {
            return Err(ControlError::invalid(format!(
                "The weight of capacity provider {} must be between 0 and 1000.",
                item.capacity_provider
            )));
        }
        if item.base.is_some_and(|b| !(0..=100_000).contains(&b)) {
            return Err(ControlError::invalid(format!(
                "The base of capacity provider {} must be between 0 and 100000.",
                item.capacity_provider
            )));
        }
        bases += i32::from(item.base.is_some_and(|b| b > 0));
        if strategy[..i].iter().any(|o| o.capacity_provider == item.capacity_provider) {
            return Err(ControlError::invalid(format!(
                "Capacity provider {} is named more than once in the strategy.",
                item.capacity_provider
            )));
        }
    }
    if bases > 1 {
        return Err(ControlError::invalid("Only one capacity provider in a strategy can have a base defined."));
    }
    Ok(())
}

/// The capacity provider each of `n` new tasks runs on under `strategy`, given how many tasks of the same run or
/// service each provider has already (`existing`): a provider's base is filled first, then each task goes to the
/// provider furthest below its share of the weights (ties to the first named). Weights all 0 count as equal.
pub fn split(strategy: &[CapacityProviderStrategyItem], existing: &BTreeMap<String, usize>, n: usize) -> Vec<String> {
    if strategy.is_empty() {
        return vec![FARGATE.to_string(); n];
    }
    let all_zero = strategy.iter().all(|i| i.weight.unwrap_or(0) == 0);
    let weight = |i: &CapacityProviderStrategyItem| if all_zero { 1 } else { i.weight.unwrap_or(0) };
    let mut counts: Vec<usize> =
        strategy.iter().map(|i| existing.get(&i.capacity_provider).copied().unwrap_or(0)).collect();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let base = strategy.iter().enumerate().find(|(k, i)| counts[*k] < i.base.unwrap_or(0).max(0) as usize);
        let chosen = match base {
            Some((k, _)) => k,
            None => {
                // Beyond its base, a provider's tasks are compared with its weight: the smallest (count+1)/weight.
                let mut best: Option<(usize, f64)> = None;
                for (k, item) in strategy.iter().enumerate() {
                    let w = weight(item);
                    if w <= 0 {
                        continue;
                    }
                    let beyond = counts[k].saturating_sub(item.base.unwrap_or(0).max(0) as usize);
                    let score = (beyond as f64 + 1.0) / f64::from(w);
                    if best.is_none_or(|(_, s)| score < s) {
                        best = Some((k, score));
                    }
                }
                best.map(|(k, _)| k).unwrap_or(0)
            }
        };
        counts[chosen] += 1;
        out.push(strategy[chosen].capacity_provider.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, weight: Option<i32>, base: Option<i32>) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem { capacity_provider: name.into(), weight, base }
    }

    #[test]
    fn platform_versions_resolve_as_fargate_does() {
        assert_eq!(resolve_platform_version(None).unwrap(), "1.4.0");
        assert_eq!(resolve_platform_version(Some("")).unwrap(), "1.4.0");
        assert_eq!(resolve_platform_version(Some("LATEST")).unwrap(), "1.4.0");
        assert_eq!(resolve_platform_version(Some("1.4.0")).unwrap(), "1.4.0");
        let older = resolve_platform_version(Some("1.3.0")).unwrap_err().to_string();
        assert!(older.contains("UnsupportedFeatureException") && older.contains("1.3.0"), "{older}");
        let unknown = resolve_platform_version(Some("9.9.9")).unwrap_err().to_string();
        assert!(unknown.contains("PlatformUnknownException"), "{unknown}");
    }

    #[test]
    fn strategies_are_bounded() {
        assert!(check_strategy(&[item(FARGATE, Some(1), Some(2)), item(FARGATE_SPOT, Some(3), None)]).is_ok());
        assert!(check_strategy(&[item(FARGATE, Some(1001), None)]).is_err());
        assert!(check_strategy(&[item(FARGATE, None, Some(-1))]).is_err());
        assert!(check_strategy(&[item(FARGATE, None, Some(1)), item(FARGATE_SPOT, None, Some(1))]).is_err());
        assert!(check_strategy(&[item(FARGATE, None, None), item(FARGATE, None, None)]).is_err());
    }

    #[test]
    fn the_split_fills_the_base_then_follows_the_weights() {
        let strategy = [item(FARGATE, Some(1), Some(2)), item(FARGATE_SPOT, Some(3), None)];
        let out = split(&strategy, &BTreeMap::new(), 10);
        let on = |p: &str| out.iter().filter(|x| *x == p).count();
        assert_eq!(&out[..2], [FARGATE, FARGATE]);
        assert_eq!((on(FARGATE), on(FARGATE_SPOT)), (4, 6));
        // A service's next tasks take what it already runs into account.
        let existing = BTreeMap::from([(FARGATE.to_string(), 4), (FARGATE_SPOT.to_string(), 6)]);
        let next = split(&strategy, &existing, 4);
        assert_eq!(next.iter().filter(|x| *x == FARGATE_SPOT).count(), 3);
        // No weights at all: an even split.
        let even = split(&[item(FARGATE, None, None), item(FARGATE_SPOT, None, None)], &BTreeMap::new(), 4);
        assert_eq!(even.iter().filter(|x| *x == FARGATE).count(), 2);
    }
}

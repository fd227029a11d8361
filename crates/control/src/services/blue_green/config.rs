//! The settings of blue/green, linear and canary deployments, checked at CreateService and UpdateService: the
//! strategy's own configuration (ranges and defaults as ECS documents them), the lifecycle hooks, and the
//! load balancers' `advancedConfiguration` (alternate target group, production and test listener rules, role).

use crate::services::targets::{ServiceTargets, TargetGroupInfo};
use crate::{ControlError, EcsException, Result};
use berth_model::ecs::{
    CanaryConfiguration, DeploymentConfiguration, DeploymentLifecycleHookTargetType, DeploymentStrategy,
    LinearConfiguration, LoadBalancer,
};

/// The longest bake time, in minutes (24 hours).
pub const MAX_BAKE_MINUTES: i32 = 1440;
/// The longest hook timeout, in minutes (two weeks, the model's bound).
pub const MAX_HOOK_TIMEOUT_MINUTES: i32 = 20160;
/// A hook's timeout when none is given, in minutes (ECS: 24 hours).
pub const DEFAULT_HOOK_TIMEOUT_MINUTES: i32 = 1440;

/// How production traffic moves to green.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shift {
    /// BLUE_GREEN: all of it at once.
    AllAtOnce,
    /// LINEAR: `step` percent more every `bake_minutes` (no bake after 100%).
    Linear {
        /// Percent per step.
        step: f64,
        /// Minutes between steps.
        bake_minutes: i32,
    },
    /// CANARY: `percent` first, the rest after `bake_minutes`.
    Canary {
        /// The canary's share, in percent.
        percent: f64,
        /// Minutes before the rest moves.
        bake_minutes: i32,
    },
}

impl Shift {
    /// Green's production share after `step` steps (1-based), in percent, and whether that is the last step.
    pub fn weight_at(self, step: u32) -> (f64, bool) {
        let step = f64::from(step.max(1));
        let share = match self {
            Shift::AllAtOnce => 100.0,
            Shift::Linear { step: each, .. } => each * step,
            Shift::Canary { percent, .. } => {
                if step <= 1.0 {
                    percent
                } else {
                    100.0
                }
            }
        };
        // Shares are kept to a tenth of a percent (the strategies' own granularity).
        let share = ((share * 10.0).round() / 10.0).min(100.0);
        (share, share >= 100.0)
    }

    /// Minutes to wait after a step before the next one.
    pub fn bake_minutes(self) -> i32 {
        match self {
            Shift::AllAtOnce => 0,
            Shift::Linear { bake_minutes, .. } | Shift::Canary { bake_minutes, .. } => bake_minutes,
        }
    }
}

/// Whether a deployment configuration names one of the blue/green strategies.
pub fn is_blue_green(config: Option<&DeploymentConfiguration>) -> bool {
    shift_of(config).is_some()
}

/// How a configuration shifts production traffic; `None` for ROLLING (or no strategy).
pub fn shift_of(config: Option<&DeploymentConfiguration>) -> Option<Shift> {
    let config = config?;
    match config.strategy? {
        DeploymentStrategy::BlueGreen => Some(Shift::AllAtOnce),
        DeploymentStrategy::Linear => {
            let c = config.linear_configuration.clone().unwrap_or_else(default_linear);
            Some(Shift::Linear { step: c.step_percent, bake_minutes: c.step_bake_time_in_minutes })
        }
        DeploymentStrategy::Canary => {
            let c = config.canary_configuration.clone().unwrap_or_else(default_canary);
            Some(Shift::Canary { percent: c.canary_percent, bake_minutes: c.canary_bake_time_in_minutes })
        }
        DeploymentStrategy::Rolling => None,
    }
}

/// ECS's LINEAR defaults: 10% every 6 minutes.
fn default_linear() -> LinearConfiguration {
    LinearConfiguration { step_percent: 10.0, step_bake_time_in_minutes: 6 }
}

/// ECS's CANARY defaults: 5% for 10 minutes.
fn default_canary() -> CanaryConfiguration {
    CanaryConfiguration { canary_percent: 5.0, canary_bake_time_in_minutes: 10 }
}

/// A multiple of 0.1 (within floating-point noise).
fn is_tenth(value: f64) -> bool {
    ((value * 10.0) - (value * 10.0).round()).abs() < 1e-6
}

fn check_bake(name: &str, minutes: i32) -> Result<()> {
    if !(0..=MAX_BAKE_MINUTES).contains(&minutes) {
        return Err(ControlError::invalid(format!(
            "{name} must be between 0 and {MAX_BAKE_MINUTES} minutes, got {minutes}."
        )));
    }
    Ok(())
}

/// Checks the strategy's own settings and the lifecycle hooks of `config` and fills ECS's defaults (a LINEAR or
/// CANARY strategy without its configuration gets ECS's). `daemon`: the service uses the DAEMON scheduling
/// strategy, which only rolls.
pub fn normalise(config: &mut DeploymentConfiguration, daemon: bool) -> Result<()> {
    let strategy = config.strategy.unwrap_or(DeploymentStrategy::Rolling);
    if strategy != DeploymentStrategy::Rolling && daemon {
        return Err(ControlError::invalid(format!(
            "The {} deployment strategy is not supported for services with the DAEMON scheduling strategy.",
            strategy.as_str()
        )));
    }
    if config.linear_configuration.is_some() && strategy != DeploymentStrategy::Linear {
        return Err(ControlError::invalid("linearConfiguration is only valid with the LINEAR deployment strategy."));
    }
    if config.canary_configuration.is_some() && strategy != DeploymentStrategy::Canary {
        return Err(ControlError::invalid("canaryConfiguration is only valid with the CANARY deployment strategy."));
    }
    if strategy == DeploymentStrategy::Rolling {
        if config.lifecycle_hooks.as_ref().is_some_and(|h| !h.is_empty()) {
            return Err(ControlError::invalid(
                "Lifecycle hooks are only supported with the BLUE_GREEN, LINEAR and CANARY deployment strategies.",
            ));
        }
        if config.bake_time_in_minutes.is_some_and(|b| b != 0) {
            return Err(ControlError::invalid(
                "bakeTimeInMinutes is only supported with the BLUE_GREEN, LINEAR and CANARY deployment strategies.",
            ));
        }
        return Ok(());
    }
    let bake = config.bake_time_in_minutes.unwrap_or(0);
    check_bake("bakeTimeInMinutes", bake)?;
    config.bake_time_in_minutes = Some(bake);
    if strategy == DeploymentStrategy::Linear {
        let mut c = config.linear_configuration.clone().unwrap_or_else(default_linear);
        if c.step_percent == 0.0 {
            c.step_percent = default_linear().step_percent;
        }
        if !(3.0..=100.0).contains(&c.step_percent) || !is_tenth(c.step_percent) {
            return Err(ControlError::invalid(format!(
                "linearConfiguration.stepPercent must be a multiple of 0.1 from 3.0 to 100.0, got {}.",
                c.step_percent
            )));
        }
        check_bake("linearConfiguration.stepBakeTimeInMinutes", c.step_bake_time_in_minutes)?;
        config.linear_configuration = Some(c);
    }
    if strategy == DeploymentStrategy::Canary {
        let mut c = config.canary_configuration.clone().unwrap_or_else(default_canary);
        if c.canary_percent == 0.0 {
            c.canary_percent = default_canary().canary_percent;
        }
        if !(0.1..=100.0).contains(&c.canary_percent) || !is_tenth(c.canary_percent) {
            return Err(ControlError::invalid(format!(
                "canaryConfiguration.canaryPercent must be a multiple of 0.1 from 0.1 to 100.0, got {}.",
                c.canary_percent
            )));
        }
        check_bake("canaryConfiguration.canaryBakeTimeInMinutes", c.canary_bake_time_in_minutes)?;
        config.canary_configuration = Some(c);
    }
    for hook in config.lifecycle_hooks.iter().flatten() {
        if hook.lifecycle_stages.as_ref().is_none_or(|s| s.is_empty()) {
            return Err(ControlError::invalid("lifecycleStages is required for a deployment lifecycle hook."));
        }
        if let Some(t) = &hook.timeout_configuration
            && let Some(minutes) = t.timeout_in_minutes
            && !(1..=MAX_HOOK_TIMEOUT_MINUTES).contains(&minutes)
        {
            return Err(ControlError::invalid(format!(
                "timeoutConfiguration.timeoutInMinutes must be between 1 and {MAX_HOOK_TIMEOUT_MINUTES}, got {minutes}."
            )));
        }
        let target = hook.hook_target_arn.as_deref().map(str::trim).filter(|t| !t.is_empty());
        match hook.target_type.unwrap_or(DeploymentLifecycleHookTargetType::AwsLambda) {
            DeploymentLifecycleHookTargetType::Pause => {
                if target.is_some() {
                    return Err(ControlError::invalid("hookTargetArn is not applicable to a PAUSE lifecycle hook."));
                }
            }
            DeploymentLifecycleHookTargetType::AwsLambda => check_webhook(target)?,
        }
    }
    Ok(())
}

/// An AWS_LAMBDA hook's target: Berth has no Lambda; it calls an `http://` URL given in `hookTargetArn` instead
/// (its webhook hooks).
fn check_webhook(target: Option<&str>) -> Result<()> {
    let Some(target) = target else {
        return Err(ControlError::invalid("hookTargetArn is required for an AWS_LAMBDA lifecycle hook."));
    };
    if target.starts_with("arn:") {
        return Err(ControlError::ecs(
            EcsException::UnsupportedFeatureException,
            format!(
                "Berth has no AWS Lambda to invoke {target}. Give an http:// URL as hookTargetArn: Berth calls it with the hook's payload as ECS invokes a Lambda function (a webhook hook), or use a PAUSE hook."
            ),
        ));
    }
    if target.starts_with("https://") {
        return Err(ControlError::ecs(
            EcsException::UnsupportedFeatureException,
            "Webhook hooks over https:// are not supported by Berth yet; use an http:// URL.",
        ));
    }
    let rest = target.strip_prefix("http://").ok_or_else(|| {
        ControlError::invalid(format!("hookTargetArn must be an http:// URL (Berth's webhook hooks), got {target}."))
    })?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(ControlError::invalid(format!("hookTargetArn {target} is not a valid http:// URL.")));
    }
    Ok(())
}

/// The pairing of strategy and load balancers: a blue/green strategy needs at least one load balancer and an
/// `advancedConfiguration` on each; ROLLING takes none.
pub fn check_pairing(config: Option<&DeploymentConfiguration>, load_balancers: &[LoadBalancer]) -> Result<()> {
    let advanced = load_balancers.iter().filter(|lb| lb.advanced_configuration.is_some()).count();
    if !is_blue_green(config) {
        if advanced > 0 {
            return Err(ControlError::invalid(
                "advancedConfiguration is only supported with the BLUE_GREEN, LINEAR and CANARY deployment strategies.",
            ));
        }
        return Ok(());
    }
    let strategy = config.and_then(|c| c.strategy).map(|s| s.as_str()).unwrap_or("BLUE_GREEN");
    if load_balancers.is_empty() {
        return Err(ControlError::ecs(
            EcsException::UnsupportedFeatureException,
            format!(
                "The {strategy} deployment strategy without a load balancer (or with Service Connect) is not supported by Berth yet; give loadBalancers with an advancedConfiguration."
            ),
        ));
    }
    if advanced != load_balancers.len() {
        return Err(ControlError::invalid(format!(
            "The {strategy} deployment strategy requires an advancedConfiguration (alternateTargetGroupArn, productionListenerRule, roleArn) for each load balancer."
        )));
    }
    Ok(())
}

/// One load balancer's `advancedConfiguration`, against the server's ELBv2: the alternate target group exists, is
/// not the primary one, has the same target type and a load balancer; the production listener rule exists and
/// forwards to one of the two groups; the test listener rule, when given, exists; a role is named.
pub fn check_advanced(hook: &dyn ServiceTargets, lb: &LoadBalancer, primary: &TargetGroupInfo) -> Result<()> {
    let Some(advanced) = &lb.advanced_configuration else { return Ok(()) };
    let tg = lb.target_group_arn.as_deref().unwrap_or_default();
    let alternate = advanced
        .alternate_target_group_arn
        .as_deref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ControlError::invalid("alternateTargetGroupArn is required in advancedConfiguration."))?;
    if alternate == tg {
        return Err(ControlError::invalid(
            "The alternateTargetGroupArn must be different from the targetGroupArn of the load balancer.",
        ));
    }
    let info = hook
        .target_group(alternate)
        .ok_or_else(|| ControlError::invalid(format!("The alternate target group {alternate} does not exist.")))?;
    if info.target_type != primary.target_type {
        return Err(ControlError::invalid(format!(
            "The alternate target group {alternate} has target type {}, but the target group {tg} has {}.",
            info.target_type, primary.target_type
        )));
    }
    if info.load_balancers.is_empty() {
        return Err(ControlError::invalid(format!(
            "The target group with targetGroupArn {alternate} does not have an associated load balancer."
        )));
    }
    if advanced.role_arn.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(ControlError::invalid("roleArn is required in advancedConfiguration."));
    }
    let production = advanced
        .production_listener_rule
        .as_deref()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ControlError::invalid("productionListenerRule is required in advancedConfiguration."))?;
    let rule = hook
        .listener_rule(production)
        .ok_or_else(|| ControlError::invalid(format!("The production listener rule {production} does not exist.")))?;
    if !rule.forward.iter().any(|(g, _)| g == tg || g == alternate) {
        return Err(ControlError::invalid(format!(
            "The production listener rule {production} must forward to the target group {tg} or {alternate}."
        )));
    }
    if let Some(test) = advanced.test_listener_rule.as_deref().filter(|r| !r.is_empty()) {
        if test == production {
            return Err(ControlError::invalid("The test listener rule must differ from the production listener rule."));
        }
        let rule = hook
            .listener_rule(test)
            .ok_or_else(|| ControlError::invalid(format!("The test listener rule {test} does not exist.")))?;
        if !rule.forward.iter().any(|(g, _)| g == tg || g == alternate) {
            return Err(ControlError::invalid(format!(
                "The test listener rule {test} must forward to the target group {tg} or {alternate}."
            )));
        }
    }
    Ok(())
}

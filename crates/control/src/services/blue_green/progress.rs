//! The pure part of a blue/green deployment: where a service deployment of the BLUE_GREEN, LINEAR or CANARY
//! strategy is ([`active`]), how it starts ([`start`]), moves from stage to stage as green becomes ready, hooks
//! pass and bake times end ([`advance`]), rolls back ([`roll_back`], [`finish_rollbacks`]), and which weights its
//! listener rules should have ([`desired_weights`]). The service scheduler's plan calls these with its
//! [`Env`]; they read the record and the time only.

use super::config::{self, DEFAULT_HOOK_TIMEOUT_MINUTES, Shift};
use crate::records::{
    BlueGreenProgress, HookAction, HookKind, HookRun, HookStatus, RollbackRecord, ServiceDeploymentRecord,
    ServiceRecord, Stage, TaskRecord,
};
use crate::services::env::Env;
use crate::status::{DeploymentStatus, RolloutState, ServiceDeploymentStatus};
use berth_model::ecs::{
    DeploymentConfiguration, DeploymentLifecycleHookAction, DeploymentLifecycleHookTargetType, LoadBalancer,
};

/// How long a traffic shift is given to reach the load balancers' data plane before its hooks start and the
/// deployment goes on, in seconds (Berth applies a weight change within a pass and its data plane within 0.2 s).
pub const TRAFFIC_SETTLE_SECONDS: f64 = 2.0;

/// The PRIMARY deployment's blue/green progress while its service deployment is IN_PROGRESS.
pub fn active(record: &ServiceRecord) -> Option<&BlueGreenProgress> {
    let primary = record.deployments.first().filter(|d| !d.rollback)?;
    let sd = record.service_deployments.iter().find(|d| d.arn == primary.service_deployment_arn)?;
    if sd.status != ServiceDeploymentStatus::InProgress {
        return None;
    }
    sd.blue_green.as_ref()
}

fn active_deployment_mut(record: &mut ServiceRecord) -> Option<&mut ServiceDeploymentRecord> {
    let primary = record.deployments.first().filter(|d| !d.rollback)?;
    let arn = primary.service_deployment_arn.clone();
    record
        .service_deployments
        .iter_mut()
        .find(|d| d.arn == arn && d.status == ServiceDeploymentStatus::InProgress && d.blue_green.is_some())
}

/// The runs of the hooks of `config` that listen at `stage` (none for a stage without hooks).
fn runs_for(env: &Env, config: Option<&DeploymentConfiguration>, stage: Stage) -> Vec<HookRun> {
    let Some(hook_stage) = stage.hook_stage() else { return Vec::new() };
    let hooks = config.and_then(|c| c.lifecycle_hooks.as_ref());
    hooks
        .into_iter()
        .flatten()
        .filter(|h| h.lifecycle_stages.iter().flatten().any(|s| *s == hook_stage))
        .map(|h| {
            let pause = h.target_type == Some(DeploymentLifecycleHookTargetType::Pause);
            let timeout = h.timeout_configuration.as_ref();
            let minutes = timeout.and_then(|t| t.timeout_in_minutes).unwrap_or(DEFAULT_HOOK_TIMEOUT_MINUTES);
            let timeout_action = match timeout.and_then(|t| t.action) {
                Some(DeploymentLifecycleHookAction::Continue) => HookAction::Continue,
                _ => HookAction::Rollback,
            };
            HookRun {
                hook_id: format!("ecs-{}-{}", if pause { "pause" } else { "webhook" }, berth_model::ids::new_token(43)),
                kind: if pause { HookKind::Pause } else { HookKind::Webhook },
                target: if pause { None } else { h.hook_target_arn.as_ref().map(|t| t.trim().to_string()) },
                status: if pause { HookStatus::AwaitingAction } else { HookStatus::InProgress },
                started_at: env.now,
                expires_at: env.now + f64::from(minutes) * env.minute,
                timeout_action,
                next_call_at: if pause { None } else { Some(env.now) },
                details: h.hook_details.clone(),
                calls: 0,
                reason: None,
            }
        })
        .collect()
}

/// The progress a new deployment of `record` starts with: `None` for a rolling strategy, and for a service's
/// first deployment (nothing runs yet: its tasks just start, on the production side).
pub fn start(env: &Env, record: &ServiceRecord) -> Option<BlueGreenProgress> {
    config::shift_of(record.deployment_configuration.as_ref())?;
    if record.deployments.is_empty() {
        return None;
    }
    // More than one revision running: the deployment reconciles them first (ECS's RECONCILE_SERVICE).
    let stage = if record.deployments.len() > 1 { Stage::ReconcileService } else { Stage::PreScaleUp };
    Some(BlueGreenProgress {
        stage,
        stage_started_at: env.now,
        step: 0,
        step_started_at: env.now,
        production_weight: 0.0,
        test_weight: 0.0,
        green_side: 1 - record.production_side.min(1),
        hooks: runs_for(env, record.deployment_configuration.as_ref(), stage),
        hooks_started: true,
    })
}

/// Moves the PRIMARY deployment's blue/green progress on as far as it can go in this pass: hooks that timed out
/// take their timeout action, a failed hook rolls back, and a stage whose work is done and whose hooks passed
/// gives way to the next. `green_ready`: green runs its desired count, all healthy. Returns whether the record
/// changed. It stops after each traffic change, so that the change reaches the load balancer before the
/// deployment goes on.
pub fn advance(env: &Env, record: &mut ServiceRecord, green_ready: bool) -> bool {
    let now = env.now;
    let Some(sd) = active_deployment_mut(record) else { return false };
    let config = sd.deployment_configuration.clone();
    let Some(shift) = config::shift_of(config.as_ref()) else { return false };
    let bake = f64::from(config.as_ref().and_then(|c| c.bake_time_in_minutes).unwrap_or(0)) * env.minute;
    let Some(progress) = sd.blue_green.as_mut() else { return false };
    let mut changed = false;
    let mut failure: Option<String> = None;
    for run in progress.hooks.iter_mut() {
        if matches!(run.status, HookStatus::AwaitingAction | HookStatus::InProgress) && now >= run.expires_at {
            run.status = HookStatus::TimedOut;
            run.next_call_at = None;
            changed = true;
        }
    }
    for _ in 0..Stage::ALL.len() + 2 {
        if !progress.hooks_started {
            // A traffic shift's hooks (and the stages after it) wait until the load balancer applied it.
            let shifted_at = match progress.stage {
                Stage::TestTrafficShift => Some(progress.stage_started_at),
                Stage::ProductionTrafficShift => Some(progress.step_started_at),
                _ => None,
            };
            if shifted_at.is_some_and(|t| now < t + TRAFFIC_SETTLE_SECONDS) {
                break;
            }
            let stage = progress.stage;
            progress.hooks = runs_for(env, config.as_ref(), stage);
            progress.hooks_started = true;
            changed = true;
        }
        if let Some(run) = progress.hooks.iter().find(|h| h.failed()) {
            failure = Some(match (run.status, &run.reason) {
                (HookStatus::TimedOut, _) => format!("Lifecycle hook {} timed out.", run.hook_id),
                (_, Some(reason)) => format!("Lifecycle hook {} failed: {reason}", run.hook_id),
                (_, None) => format!("Lifecycle hook {} failed.", run.hook_id),
            });
            break;
        }
        if !progress.hooks.iter().all(HookRun::passed) {
            break;
        }
        match progress.stage {
            Stage::ScaleUp if !green_ready => break,
            Stage::ProductionTrafficShift => {
                let (_, last) = shift.weight_at(progress.step);
                if !last {
                    if now >= progress.step_started_at + f64::from(shift.bake_minutes()) * env.minute {
                        set_step(env, progress, shift, progress.step + 1);
                        changed = true;
                    }
                    break;
                }
            }
            Stage::BakeTime if now < progress.stage_started_at + bake => break,
            Stage::CleanUp => break,
            _ => {}
        }
        let next = progress.stage.next();
        progress.stage = next;
        progress.stage_started_at = now;
        progress.hooks = Vec::new();
        progress.hooks_started = false;
        changed = true;
        match next {
            Stage::TestTrafficShift => {
                progress.test_weight = 100.0;
                break;
            }
            Stage::ProductionTrafficShift => {
                set_step(env, progress, shift, 1);
                break;
            }
            _ => {}
        }
    }
    if changed {
        sd.updated_at = Some(now);
    }
    if let Some(why) = failure {
        roll_back(env, record, &why, &why);
        return true;
    }
    changed
}

/// Sets the production shift step `step`: green's share as the strategy says, and that step's hook runs.
fn set_step(env: &Env, progress: &mut BlueGreenProgress, shift: Shift, step: u32) {
    progress.step = step;
    progress.step_started_at = env.now;
    progress.production_weight = shift.weight_at(step).0;
    progress.hooks = Vec::new();
    progress.hooks_started = false;
}

/// Rolls the PRIMARY blue/green deployment back: all traffic returns to blue (its shares drop to 0), the blue
/// deployment becomes PRIMARY again and green's tasks are scaled in by the rolling rules, and the service
/// deployment is ROLLBACK_IN_PROGRESS until green is gone ([`finish_rollbacks`]). When no blue deployment runs any
/// more, a new deployment of the last completed task definition replaces green instead. Returns the id of the
/// deployment that now is PRIMARY, or `None` when nothing was in progress.
pub fn roll_back(env: &Env, record: &mut ServiceRecord, status_reason: &str, rollback_reason: &str) -> Option<String> {
    let now = env.now;
    let arn = active(record).map(|_| record.deployments[0].service_deployment_arn.clone())?;
    let green_id = record.deployments[0].id.clone();
    {
        let green = &mut record.deployments[0];
        green.rollout_state = RolloutState::Failed;
        green.rollout_state_reason = status_reason.to_string();
        green.updated_at = now;
    }
    let blue =
        record.deployments.iter().skip(1).position(|d| d.rollout_state == RolloutState::Completed).map(|i| i + 1);
    let target_id = match blue {
        Some(i) => {
            let mut blue = record.deployments.remove(i);
            blue.status = DeploymentStatus::Primary;
            blue.updated_at = now;
            for d in record.deployments.iter_mut() {
                d.status = DeploymentStatus::Active;
            }
            let (id, td, revision) = (blue.id.clone(), blue.task_definition.clone(), blue.revision_arn.clone());
            record.deployments.insert(0, blue);
            record.task_definition = Some(td);
            if let Some(sd) = record.service_deployments.iter_mut().find(|d| d.arn == arn) {
                sd.status = ServiceDeploymentStatus::RollbackInProgress;
                sd.status_reason = Some(status_reason.to_string());
                sd.updated_at = Some(now);
                sd.rollback = Some(RollbackRecord {
                    reason: rollback_reason.to_string(),
                    started_at: now,
                    service_revision_arn: revision,
                });
                if let Some(p) = sd.blue_green.as_mut() {
                    p.production_weight = 0.0;
                    p.test_weight = 0.0;
                    for run in p.hooks.iter_mut().filter(|h| !h.passed() && !h.failed()) {
                        run.status = HookStatus::Failed;
                        run.next_call_at = None;
                    }
                }
            }
            id
        }
        None => {
            let target = record.last_completed_task_definition.clone()?;
            if let Some(p) =
                record.service_deployments.iter_mut().find(|d| d.arn == arn).and_then(|d| d.blue_green.as_mut())
            {
                p.production_weight = 0.0;
                p.test_weight = 0.0;
            }
            env.start_rollback(record, &arn, &target, status_reason, rollback_reason)
        }
    };
    record.steady = false;
    env.push_event(record, format!("(deployment {green_id}) rolling back to deployment {target_id}."));
    Some(target_id)
}

/// Blue/green service deployments rolling back whose green deployment has no task left are ROLLBACK_SUCCESSFUL.
/// Returns whether any changed.
pub fn finish_rollbacks(env: &Env, record: &mut ServiceRecord) -> bool {
    let mut changed = false;
    let live: Vec<String> = record.deployments.iter().map(|d| d.service_deployment_arn.clone()).collect();
    for sd in record.service_deployments.iter_mut() {
        if sd.status == ServiceDeploymentStatus::RollbackInProgress
            && sd.blue_green.is_some()
            && !live.contains(&sd.arn)
        {
            sd.status = ServiceDeploymentStatus::RollbackSuccessful;
            sd.finished_at = Some(env.now);
            sd.updated_at = Some(env.now);
            changed = true;
        }
    }
    changed
}

/// Whether a task of a blue/green deployment that is rolling back is kept a moment longer: green's tasks are
/// scaled in only once the traffic's return to blue had time to reach the load balancers' data plane (a request
/// still routed to green must find its targets).
pub fn held_after_rollback(env: &Env, record: &ServiceRecord, task: &TaskRecord) -> bool {
    let Some(deployment) = record.deployments.iter().find(|d| Some(d.id.as_str()) == task.started_by.as_deref()) else {
        return false;
    };
    record.service_deployments.iter().any(|sd| {
        sd.arn == deployment.service_deployment_arn
            && sd.status == ServiceDeploymentStatus::RollbackInProgress
            && sd.blue_green.is_some()
            && sd.rollback.as_ref().is_some_and(|r| env.now < r.started_at + TRAFFIC_SETTLE_SECONDS)
    })
}

/// On completion of a blue/green deployment: green's side becomes the production side and has all traffic.
pub fn complete(record: &mut ServiceRecord, service_deployment_arn: &str) {
    let Some(sd) = record.service_deployments.iter_mut().find(|d| d.arn == service_deployment_arn) else { return };
    let Some(progress) = sd.blue_green.as_mut() else { return };
    progress.production_weight = 100.0;
    progress.test_weight = 100.0;
    progress.hooks.clear();
    record.production_side = progress.green_side;
}

/// The side new tasks of the PRIMARY deployment register on: green's during a blue/green deployment, else the
/// production side.
pub fn placement_side(record: &ServiceRecord) -> u8 {
    active(record).map(|p| p.green_side).unwrap_or(record.production_side)
}

/// The target group of `lb` on `side` (0 `targetGroupArn`, 1 the alternate).
fn group_on(lb: &LoadBalancer, side: u8) -> Option<&str> {
    if side == 0 {
        lb.target_group_arn.as_deref()
    } else {
        lb.advanced_configuration.as_ref()?.alternate_target_group_arn.as_deref()
    }
}

/// The service's load balancers as a task on `side` registers in them.
pub fn load_balancers_on(load_balancers: &[LoadBalancer], side: u8) -> Vec<LoadBalancer> {
    load_balancers
        .iter()
        .map(|lb| LoadBalancer {
            target_group_arn: group_on(lb, side).map(str::to_string).or_else(|| lb.target_group_arn.clone()),
            advanced_configuration: None,
            ..lb.clone()
        })
        .collect()
}

/// Whether a task is registered on the production side of the service's first load balancer (blue, during a
/// blue/green deployment).
pub fn on_production_side(record: &ServiceRecord, task: &TaskRecord) -> bool {
    let Some(lb) = record.load_balancers.iter().flatten().next() else { return false };
    let Some(production) = group_on(lb, record.production_side) else { return false };
    task.targets.as_ref().and_then(|t| t.load_balancers.first()).and_then(|l| l.target_group_arn.as_deref())
        == Some(production)
}

/// ELBv2 weights (0-999) for green's `share` percent: blue's and green's.
pub fn weights_for(share: f64) -> (u32, u32) {
    if share <= 0.0 {
        return (1, 0);
    }
    if share >= 100.0 {
        return (0, 1);
    }
    let green = ((share * 10.0).round() as u32).clamp(1, 999);
    (1000 - green, green)
}

/// The forward weights each listener rule of the service's load balancers should have now: the production rule
/// and the test rule between blue's and green's target groups by the shares of the blue/green deployment in
/// progress or rolling back, else all to the production side.
pub fn desired_weights(record: &ServiceRecord) -> Vec<(String, Vec<(String, u32)>)> {
    if !config::is_blue_green(record.deployment_configuration.as_ref()) {
        return Vec::new();
    }
    let current = record.service_deployments.iter().rev().find(|d| {
        matches!(d.status, ServiceDeploymentStatus::InProgress | ServiceDeploymentStatus::RollbackInProgress)
            && d.blue_green.is_some()
    });
    let (green_side, production, test) = match current.and_then(|d| d.blue_green.as_ref()) {
        Some(p) => (p.green_side, p.production_weight, p.test_weight),
        None => (1 - record.production_side.min(1), 0.0, 0.0),
    };
    let mut out = Vec::new();
    for lb in record.load_balancers.iter().flatten() {
        let Some(advanced) = &lb.advanced_configuration else { continue };
        let (Some(green), Some(blue)) = (group_on(lb, green_side), group_on(lb, 1 - green_side)) else { continue };
        let rules = [
            (advanced.production_listener_rule.as_deref(), production),
            (advanced.test_listener_rule.as_deref(), test),
        ];
        for (rule, share) in rules {
            let Some(rule) = rule.filter(|r| !r.is_empty()) else { continue };
            let (b, g) = weights_for(share);
            out.push((rule.to_string(), vec![(blue.to_string(), b), (green.to_string(), g)]));
        }
    }
    out
}

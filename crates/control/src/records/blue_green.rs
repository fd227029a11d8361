//! What a service deployment of the BLUE_GREEN, LINEAR or CANARY strategy keeps of its progress: the lifecycle
//! stage it is in, the traffic shares it asked for, the production shift step, and the runs of the lifecycle hooks
//! of its current stage. Stored inside its [`super::ServiceDeploymentRecord`]; `services::blue_green` moves it on.

use berth_model::Timestamp;
use berth_model::ecs::{
    DeploymentLifecycleHookAction, DeploymentLifecycleHookDetail, DeploymentLifecycleHookStage,
    DeploymentLifecycleHookStatus, DeploymentLifecycleHookTargetType, ServiceDeploymentLifecycleStage,
};
use serde::{Deserialize, Serialize};

/// A lifecycle stage of a blue/green deployment, in the order a deployment goes through them.
/// `PreProductionTrafficShift` is a hook stage of its own (ECS's hooks name it) that ECS's `lifecycleStage` does
/// not list: it is shown as PRODUCTION_TRAFFIC_SHIFT, with no production traffic moved yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    /// More than one revision was ACTIVE when the deployment started.
    ReconcileService,
    /// Before green starts.
    PreScaleUp,
    /// Green starts, up to the desired count, in the alternate target groups.
    ScaleUp,
    /// Green runs and is healthy; blue has all traffic.
    PostScaleUp,
    /// The test listener rule moves to green.
    TestTrafficShift,
    /// Green has all test traffic.
    PostTestTrafficShift,
    /// Before the first production weight change.
    PreProductionTrafficShift,
    /// Production traffic moves to green, in the strategy's steps.
    ProductionTrafficShift,
    /// Green has all production traffic.
    PostProductionTrafficShift,
    /// Blue is kept for the bake time.
    BakeTime,
    /// Blue is scaled in.
    CleanUp,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 11] = [
        Stage::ReconcileService,
        Stage::PreScaleUp,
        Stage::ScaleUp,
        Stage::PostScaleUp,
        Stage::TestTrafficShift,
        Stage::PostTestTrafficShift,
        Stage::PreProductionTrafficShift,
        Stage::ProductionTrafficShift,
        Stage::PostProductionTrafficShift,
        Stage::BakeTime,
        Stage::CleanUp,
    ];

    /// The stage after this one (CLEAN_UP is the last).
    pub fn next(self) -> Stage {
        let i = Self::ALL.iter().position(|s| *s == self).unwrap_or(Self::ALL.len() - 1);
        Self::ALL[(i + 1).min(Self::ALL.len() - 1)]
    }

    /// The hook stage of the same name, where hooks may run.
    pub fn hook_stage(self) -> Option<DeploymentLifecycleHookStage> {
        use DeploymentLifecycleHookStage as H;
        Some(match self {
            Stage::ReconcileService => H::ReconcileService,
            Stage::PreScaleUp => H::PreScaleUp,
            Stage::PostScaleUp => H::PostScaleUp,
            Stage::TestTrafficShift => H::TestTrafficShift,
            Stage::PostTestTrafficShift => H::PostTestTrafficShift,
            Stage::PreProductionTrafficShift => H::PreProductionTrafficShift,
            Stage::ProductionTrafficShift => H::ProductionTrafficShift,
            Stage::PostProductionTrafficShift => H::PostProductionTrafficShift,
            Stage::ScaleUp | Stage::BakeTime | Stage::CleanUp => return None,
        })
    }

    /// The `lifecycleStage` DescribeServiceDeployments shows.
    pub fn to_wire(self) -> ServiceDeploymentLifecycleStage {
        use ServiceDeploymentLifecycleStage as W;
        match self {
            Stage::ReconcileService => W::ReconcileService,
            Stage::PreScaleUp => W::PreScaleUp,
            Stage::ScaleUp => W::ScaleUp,
            Stage::PostScaleUp => W::PostScaleUp,
            Stage::TestTrafficShift => W::TestTrafficShift,
            Stage::PostTestTrafficShift => W::PostTestTrafficShift,
            Stage::PreProductionTrafficShift | Stage::ProductionTrafficShift => W::ProductionTrafficShift,
            Stage::PostProductionTrafficShift => W::PostProductionTrafficShift,
            Stage::BakeTime => W::BakeTime,
            Stage::CleanUp => W::CleanUp,
        }
    }
}

/// What a hook is: a PAUSE, or Berth's webhook (an `http(s)://` URL where ECS takes a Lambda function ARN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookKind {
    /// Waits for ContinueServiceDeployment.
    Pause,
    /// Berth calls a URL as ECS invokes a Lambda function.
    Webhook,
}

/// Where a hook run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStatus {
    /// A PAUSE hook waits for ContinueServiceDeployment.
    AwaitingAction,
    /// A webhook is being called (or will be called again).
    InProgress,
    /// Done: the deployment may go on.
    Succeeded,
    /// Failed: the deployment rolls back.
    Failed,
    /// Not resolved in time: its timeout action applies.
    TimedOut,
}

/// What happens when a hook times out, or what ContinueServiceDeployment asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookAction {
    /// Go on to the next stage.
    Continue,
    /// Roll the deployment back.
    Rollback,
}

impl HookAction {
    /// The wire value.
    pub fn to_wire(self) -> DeploymentLifecycleHookAction {
        match self {
            HookAction::Continue => DeploymentLifecycleHookAction::Continue,
            HookAction::Rollback => DeploymentLifecycleHookAction::Rollback,
        }
    }
}

/// One run of one lifecycle hook at one stage (or one production shift step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRun {
    /// `ecs-pause-...` or `ecs-webhook-...`: what ContinueServiceDeployment names.
    pub hook_id: String,
    /// PAUSE or webhook.
    pub kind: HookKind,
    /// The webhook's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Where it is.
    pub status: HookStatus,
    /// When it began.
    pub started_at: Timestamp,
    /// When it times out.
    pub expires_at: Timestamp,
    /// What its timeout does.
    pub timeout_action: HookAction,
    /// When a webhook is to be called (again); `None` once resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_call_at: Option<Timestamp>,
    /// The `hookDetails` to send: the hook's own, or what the webhook answered with IN_PROGRESS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// How many times a webhook was called.
    #[serde(default)]
    pub calls: u32,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl HookRun {
    /// Whether it no longer holds the deployment (succeeded, or timed out with CONTINUE).
    pub fn passed(&self) -> bool {
        self.status == HookStatus::Succeeded
            || (self.status == HookStatus::TimedOut && self.timeout_action == HookAction::Continue)
    }

    /// Whether it rolls the deployment back (failed, or timed out with ROLLBACK).
    pub fn failed(&self) -> bool {
        self.status == HookStatus::Failed
            || (self.status == HookStatus::TimedOut && self.timeout_action == HookAction::Rollback)
    }

    /// The `lifecycleHookDetails` entry.
    pub fn to_wire(&self) -> DeploymentLifecycleHookDetail {
        DeploymentLifecycleHookDetail {
            hook_id: Some(self.hook_id.clone()),
            target_type: Some(match self.kind {
                HookKind::Pause => DeploymentLifecycleHookTargetType::Pause,
                HookKind::Webhook => DeploymentLifecycleHookTargetType::AwsLambda,
            }),
            target_arn: self.target.clone(),
            status: Some(match self.status {
                HookStatus::AwaitingAction => DeploymentLifecycleHookStatus::AwaitingAction,
                HookStatus::InProgress => DeploymentLifecycleHookStatus::InProgress,
                HookStatus::Succeeded => DeploymentLifecycleHookStatus::Succeeded,
                HookStatus::Failed => DeploymentLifecycleHookStatus::Failed,
                HookStatus::TimedOut => DeploymentLifecycleHookStatus::TimedOut,
            }),
            expires_at: Some(self.expires_at),
            timeout_action: Some(self.timeout_action.to_wire()),
        }
    }
}

/// The progress of one blue/green (BLUE_GREEN, LINEAR, CANARY) service deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenProgress {
    /// The stage it is in.
    pub stage: Stage,
    /// When it entered that stage.
    pub stage_started_at: Timestamp,
    /// The production shift step it is at (0 before the first).
    #[serde(default)]
    pub step: u32,
    /// When that step's weights were set.
    #[serde(default)]
    pub step_started_at: Timestamp,
    /// Green's share of production traffic, in percent.
    pub production_weight: f64,
    /// Green's share of test traffic, in percent.
    pub test_weight: f64,
    /// Which target group of each load balancer green registers in: 0 `targetGroupArn`, 1
    /// `alternateTargetGroupArn`. Blue is in the other.
    pub green_side: u8,
    /// The runs of the hooks of the current stage (or production shift step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookRun>,
    /// Whether the hooks of the current stage (or step) have been started: a traffic shift's hooks start once
    /// the load balancer had time to apply it.
    #[serde(default)]
    pub hooks_started: bool,
}

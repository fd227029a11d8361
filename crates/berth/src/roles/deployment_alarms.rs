//! The control plane's [`DeploymentAlarms`] over this server's CloudWatch: ECS services' deployment alarms
//! (`deploymentConfiguration.alarms`) read the stored alarms' state, and their bake time comes from the alarms'
//! evaluation range.

use berth_control::services::alarms::{AlarmStates, DeploymentAlarms};
use berth_metrics::Metrics;
use futures::future::BoxFuture;
use std::sync::Arc;

/// CloudWatch alarms, as the service scheduler watches them during deployments.
pub struct CloudWatchAlarms(pub Arc<Metrics>);

impl DeploymentAlarms for CloudWatchAlarms {
    fn alarm_states(&self, names: Vec<String>) -> BoxFuture<'_, Result<AlarmStates, String>> {
        Box::pin(async move {
            let states = self.0.alarm_states(&names).await.map_err(|e| e.to_string())?;
            Ok(states.into_iter().map(|(name, state)| (name, state.map(|s| s.as_str().to_string()))).collect())
        })
    }

    /// ECS computes its bake time from the alarms' configuration: here their longest evaluation range (`Period` ×
    /// `EvaluationPeriods`), in this server's alarm time: CloudWatch's minute is `--alarm-evaluation-seconds` (60 by
    /// default), so a server that evaluates alarms every second (tests) bakes sixty times shorter.
    fn bake_seconds(&self, names: Vec<String>) -> BoxFuture<'_, Result<f64, String>> {
        Box::pin(async move {
            let range = self.0.alarm_evaluation_seconds(&names).await.map_err(|e| e.to_string())?;
            Ok(range * self.0.evaluation_interval().as_secs_f64() / 60.0)
        })
    }
}

//! ContinueServiceDeployment: a PAUSE hook that holds a blue/green deployment is resolved, CONTINUE (the default)
//! letting the deployment go on and ROLLBACK rolling it back; the service scheduler acts on it in its next pass.

use crate::optimistic::Attempt;
use crate::records::{HookKind, HookStatus, keys};
use crate::services::deployments::owner;
use crate::status::ServiceDeploymentStatus;
use crate::{Control, ControlError, EcsException, Result, encode};
use berth_model::ecs::{
    ContinueServiceDeploymentRequest, ContinueServiceDeploymentResponse, DeploymentLifecycleHookAction,
};
use berth_store::Txn;

fn not_found() -> ControlError {
    ControlError::ecs(EcsException::ServiceDeploymentNotFoundException, "The service deployment does not exist.")
}

impl Control {
    /// `ContinueServiceDeployment`.
    pub async fn continue_service_deployment(
        &self,
        req: ContinueServiceDeploymentRequest,
    ) -> Result<ContinueServiceDeploymentResponse> {
        let arn = req.service_deployment_arn.trim().to_string();
        let hook_id = req.hook_id.trim().to_string();
        if hook_id.is_empty() {
            return Err(ControlError::invalid("hookId is required."));
        }
        let action = req.action.unwrap_or(DeploymentLifecycleHookAction::Continue);
        let (cluster, name) = owner(&arn, "service-deployment").ok_or_else(not_found)?;
        self.write("continuing a service deployment", |state, _now| {
            let v = state.services.get(&(cluster.clone(), name.clone())).ok_or_else(not_found)?;
            let mut record = (*v.record).clone();
            let sd = record.service_deployments.iter_mut().find(|d| d.arn == arn).ok_or_else(not_found)?;
            if sd.status != ServiceDeploymentStatus::InProgress {
                return Err(ControlError::ecs(
                    EcsException::ClientException,
                    format!(
                        "The service deployment is {} and has no paused lifecycle hook to continue.",
                        sd.status.as_str()
                    ),
                ));
            }
            let progress = sd.blue_green.as_mut().ok_or_else(|| {
                ControlError::invalid("The service deployment has no lifecycle hooks (it is a rolling deployment).")
            })?;
            let run = progress.hooks.iter_mut().find(|h| h.hook_id == hook_id).ok_or_else(|| {
                ControlError::invalid(format!(
                    "The lifecycle hook {hook_id} is not a hook of the service deployment's current stage."
                ))
            })?;
            if run.kind != HookKind::Pause {
                return Err(ControlError::invalid(format!(
                    "The lifecycle hook {hook_id} is not a PAUSE hook; only PAUSE hooks are continued with ContinueServiceDeployment."
                )));
            }
            if run.status != HookStatus::AwaitingAction {
                return Err(ControlError::ecs(
                    EcsException::ClientException,
                    format!("The lifecycle hook {hook_id} is no longer awaiting action."),
                ));
            }
            match action {
                DeploymentLifecycleHookAction::Continue => run.status = HookStatus::Succeeded,
                DeploymentLifecycleHookAction::Rollback => {
                    run.status = HookStatus::Failed;
                    run.reason = Some("rolled back by ContinueServiceDeployment.".into());
                }
            }
            let key = keys::service(&cluster, &name);
            let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
            Ok(Attempt::Commit(txn, ()))
        })
        .await?;
        Ok(ContinueServiceDeploymentResponse { service_deployment_arn: Some(arn) })
    }
}

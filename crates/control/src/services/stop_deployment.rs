//! StopServiceDeployment: a deployment in progress rolls back to the service revision it replaced, whether or not
//! its service configured a rollback (as ECS does for rolling deployments).

use super::deployments::owner;
use crate::optimistic::Attempt;
use crate::records::keys;
use crate::status::{RolloutState, ServiceDeploymentStatus, ServiceStatus};
use crate::{Control, ControlError, EcsException, Result, encode};
use berth_model::ecs::{StopServiceDeploymentRequest, StopServiceDeploymentResponse, StopServiceDeploymentStopType};
use berth_store::Txn;

/// The reason a manual stop gives in the deployment's status and events.
const MANUAL_ROLLBACK: &str = "Service deployment rolled back by StopServiceDeployment.";

fn not_found() -> ControlError {
    ControlError::ecs(EcsException::ServiceDeploymentNotFoundException, "The service deployment does not exist.")
}

/// What a stop request does to a service deployment in `status`.
#[derive(Debug, PartialEq, Eq)]
enum StopAction {
    /// Start rolling back now.
    RollBack,
    /// Already stopping or rolling back: nothing more to do.
    AlreadyStopping,
    /// Finished: nothing can be stopped.
    Finished,
}

fn action_for(status: ServiceDeploymentStatus) -> StopAction {
    use ServiceDeploymentStatus as S;
    match status {
        S::Pending | S::InProgress => StopAction::RollBack,
        S::StopRequested | S::RollbackRequested | S::RollbackInProgress => StopAction::AlreadyStopping,
        S::Successful | S::Stopped | S::RollbackSuccessful | S::RollbackFailed => StopAction::Finished,
    }
}

impl Control {
    /// `StopServiceDeployment` with `stopType` ROLLBACK (the default and, for rolling deployments, the only valid
    /// type): the service goes back to the task definition of its last completed deployment.
    pub async fn stop_service_deployment(
        &self,
        req: StopServiceDeploymentRequest,
    ) -> Result<StopServiceDeploymentResponse> {
        if req.stop_type == Some(StopServiceDeploymentStopType::Abort) {
            return Err(ControlError::invalid(
                "stopType ABORT is not supported by Berth (the API reference calls it not valid); use ROLLBACK, which returns a blue/green deployment's traffic to blue.",
            ));
        }
        let arn = req.service_deployment_arn.trim();
        let (cluster, name) = owner(arn, "service-deployment").ok_or_else(not_found)?;
        self.write("stopping a service deployment", |state, now| {
            let v = state.services.get(&(cluster.clone(), name.clone())).ok_or_else(not_found)?;
            let sd = v
                .record
                .service_deployments
                .iter()
                .find(|d| d.arn == arn)
                .ok_or_else(not_found)?;
            match action_for(sd.status) {
                StopAction::AlreadyStopping => return Ok(Attempt::Done(())),
                StopAction::Finished => {
                    return Err(ControlError::ecs(
                        EcsException::ConflictException,
                        format!(
                            "The service deployment is {} and cannot be stopped; only PENDING and IN_PROGRESS service deployments can.",
                            sd.status.as_str()
                        ),
                    ));
                }
                StopAction::RollBack => {}
            }
            let mut record = (*v.record).clone();
            if record.status() != Some(ServiceStatus::Active) {
                return Err(ControlError::ecs(EcsException::ServiceNotActiveException, "Service was not ACTIVE."));
            }
            let primary_arn = record.deployments.first().map(|d| d.service_deployment_arn.clone());
            if primary_arn.as_deref() != Some(arn) {
                return Err(ControlError::ecs(
                    EcsException::ConflictException,
                    "The service deployment is no longer the service's current deployment.",
                ));
            }
            let Some(target) = record.last_completed_task_definition.clone() else {
                return Err(ControlError::ecs(
                    EcsException::ConflictException,
                    "The service has no earlier completed deployment to roll back to.",
                ));
            };
            let env = self.service_env(now);
            if super::blue_green::active(&record).is_some() {
                // Blue still runs: all traffic returns to it and green is scaled in.
                let stopped_id = record.deployments[0].id.clone();
                let _ = super::blue_green::roll_back(&env, &mut record, MANUAL_ROLLBACK, MANUAL_ROLLBACK);
                env.push_event(&mut record, format!("(deployment {stopped_id}) stopped by request."));
                let key = keys::service(&cluster, &name);
                let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
                return Ok(Attempt::Commit(txn, ()));
            }
            let stopped_id = record.deployments[0].id.clone();
            {
                let primary = &mut record.deployments[0];
                primary.rollout_state = RolloutState::Failed;
                primary.rollout_state_reason = MANUAL_ROLLBACK.into();
                primary.updated_at = now;
            }
            let rollback_id = env.start_rollback(&mut record, arn, &target, MANUAL_ROLLBACK, MANUAL_ROLLBACK);
            record.steady = false;
            env.push_event(
                &mut record,
                format!("(deployment {stopped_id}) stopped by request: rolling back to deployment {rollback_id}."),
            );
            let key = keys::service(&cluster, &name);
            let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
            Ok(Attempt::Commit(txn, ()))
        })
        .await?;
        Ok(StopServiceDeploymentResponse { service_deployment_arn: Some(arn.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ServiceDeploymentStatus as S;

    #[test]
    fn only_pending_and_in_progress_deployments_roll_back() {
        assert_eq!(action_for(S::Pending), StopAction::RollBack);
        assert_eq!(action_for(S::InProgress), StopAction::RollBack);
        assert_eq!(action_for(S::RollbackInProgress), StopAction::AlreadyStopping);
        assert_eq!(action_for(S::StopRequested), StopAction::AlreadyStopping);
        assert_eq!(action_for(S::Successful), StopAction::Finished);
        assert_eq!(action_for(S::RollbackFailed), StopAction::Finished);
    }
}

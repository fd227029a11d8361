//! UpdateContainerAgent: bringing an agent to the server's version in place.
//!
//! The request sets the instance's `agentUpdateStatus` to PENDING; while it is PENDING, STAGING or STAGED the
//! agent's stream carries an `UpdateAgent` message. The agent checks its binary on disk (STAGING, STAGED), says
//! UPDATING and re-executes it; the new process registers again with its version, and registration decides:
//! the server's version is UPDATED, any other FAILED (with the reason kept in the record). An agent that cannot
//! replace itself (the one embedded in `berth up`, or an instance registered through the ECS API) is refused.

use crate::optimistic::Attempt;
use crate::records::{AgentUpdateRecord, InstanceRecord, keys};
use crate::status::AgentUpdateStatus;
use crate::{Control, ControlError, EcsException, Result, encode};
use berth_model::agent::AgentUpdateReport;
use berth_model::ecs::{UpdateContainerAgentRequest, UpdateContainerAgentResponse};
use berth_store::Txn;

/// Whether an update is under way in this status.
fn in_progress(status: Option<AgentUpdateStatus>) -> bool {
    matches!(
        status,
        Some(
            AgentUpdateStatus::Pending
                | AgentUpdateStatus::Staging
                | AgentUpdateStatus::Staged
                | AgentUpdateStatus::Updating
        )
    )
}

/// The agent's reported version, if it reported one.
fn reported_version(record: &InstanceRecord) -> Option<&str> {
    record.version_info.as_ref()?.agent_version.as_deref().filter(|v| !v.trim().is_empty())
}

/// Settles an update when its agent registers again reporting `version`: the target version means UPDATED; an
/// agent that said UPDATING (it re-executed) and came back with another version FAILED. An update the agent had
/// not started yet stays pending (the agent was restarted for another reason and is asked again).
pub(crate) fn settle_on_register(record: &mut InstanceRecord, version: &str) {
    let status = record.agent_update_status;
    let Some(update) = record.agent_update.as_mut() else { return };
    if !in_progress(status) {
        return;
    }
    if version == update.target_version {
        record.agent_update_status = Some(AgentUpdateStatus::Updated);
        update.reason = None;
    } else if status == Some(AgentUpdateStatus::Updating) {
        record.agent_update_status = Some(AgentUpdateStatus::Failed);
        update.reason = Some(format!("The agent restarted with version {version}, not {}.", update.target_version));
    }
}

/// The status an agent's progress report moves an update to, if it may: forward only, and only while in progress.
fn progress(current: Option<AgentUpdateStatus>, report: &AgentUpdateReport) -> Result<Option<AgentUpdateStatus>> {
    let next = match report.status.as_str() {
        "STAGING" => AgentUpdateStatus::Staging,
        "STAGED" => AgentUpdateStatus::Staged,
        "UPDATING" => AgentUpdateStatus::Updating,
        "FAILED" => AgentUpdateStatus::Failed,
        other => {
            return Err(ControlError::invalid(format!(
                "An agent update status must be STAGING, STAGED, UPDATING or FAILED, not {other}."
            )));
        }
    };
    if !in_progress(current) || current.is_some_and(|c| c >= next && next != AgentUpdateStatus::Failed) {
        return Ok(None);
    }
    Ok(Some(next))
}

impl Control {
    /// `UpdateContainerAgent`: asks the instance's agent to upgrade to the server's version.
    pub async fn update_container_agent(
        &self,
        req: UpdateContainerAgentRequest,
    ) -> Result<UpdateContainerAgentResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let target = self.config.agent_version.clone();
        let record = self
            .write("requesting an agent update", |state, _| {
                let v = crate::instances::find_instance_in(state, &cluster, &req.container_instance)?;
                let mut record = (*v.record).clone();
                let Some(version) = reported_version(&record).map(str::to_string) else {
                    return Err(ControlError::ecs(
                        EcsException::MissingVersionException,
                        "The container instance's agent did not report its version; it cannot be updated.",
                    ));
                };
                if in_progress(record.agent_update_status) {
                    return Err(ControlError::ecs(
                        EcsException::UpdateInProgressException,
                        "An update of this container instance's agent is already in progress.",
                    ));
                }
                if version == target {
                    let embedded =
                        if record.self_update { "" } else { " (it is embedded in the server or not a Berth agent)" };
                    return Err(ControlError::ecs(
                        EcsException::NoUpdateAvailableException,
                        format!("The agent already runs version {target}, the server's{embedded}."),
                    ));
                }
                if !record.self_update {
                    return Err(ControlError::client(format!(
                        "The agent of this container instance (version {version}) cannot update itself: only a separate \
                         `berth agent` process can; the agent embedded in `berth up` updates with the server."
                    )));
                }
                record.agent_update_status = Some(AgentUpdateStatus::Pending);
                record.agent_update =
                    Some(AgentUpdateRecord { target_version: target.clone(), from_version: version, reason: None });
                record.version += 1;
                let key = keys::instance(&cluster, &record.id);
                Ok(Attempt::Commit(Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?), record))
            })
            .await?;
        let state = self.cache.read();
        Ok(UpdateContainerAgentResponse { container_instance: Some(self.render_instance(&state, &record, false)) })
    }

    /// The version an instance's agent is asked to upgrade to, while it has not started re-executing.
    pub fn agent_update_order(&self, cluster: &str, instance_id: &str) -> Option<String> {
        let state = self.cache.read();
        let v = state.instances.get(&(cluster.to_string(), instance_id.to_string()))?;
        let status = v.record.agent_update_status;
        let waiting =
            matches!(status, Some(AgentUpdateStatus::Pending | AgentUpdateStatus::Staging | AgentUpdateStatus::Staged));
        v.record.agent_update.as_ref().filter(|_| waiting).map(|u| u.target_version.clone())
    }

    /// Records an agent's progress on its update (`/agent/v1/agent-update`). Reports after the update ended, or
    /// that would move it backwards, change nothing.
    pub async fn agent_update_progress(
        &self,
        cluster: &str,
        instance_id: &str,
        report: AgentUpdateReport,
    ) -> Result<()> {
        let failed = self
            .write("recording agent update progress", |state, _| {
                let Some(v) = state.instances.get(&(cluster.to_string(), instance_id.to_string())) else {
                    return Ok(Attempt::Done(None));
                };
                let Some(next) = progress(v.record.agent_update_status, &report)? else {
                    return Ok(Attempt::Done(None));
                };
                let mut record = (*v.record).clone();
                record.agent_update_status = Some(next);
                let mut failed = None;
                if next == AgentUpdateStatus::Failed {
                    let reason = report.reason.clone().unwrap_or_else(|| "The agent reported a failure.".into());
                    failed = Some(reason.clone());
                    if let Some(u) = record.agent_update.as_mut() {
                        u.reason = Some(reason);
                    }
                }
                record.version += 1;
                let key = keys::instance(cluster, instance_id);
                Ok(Attempt::Commit(Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?), failed))
            })
            .await?;
        if let Some(reason) = failed {
            tracing::warn!(instance = instance_id, %reason, "agent update failed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Option<AgentUpdateStatus>) -> InstanceRecord {
        let mut record: InstanceRecord = serde_json::from_value(serde_json::json!({
            "arn": "arn:aws:ecs:us-east-1:000000000000:container-instance/default/i", "status": "ACTIVE",
            "version": 1, "agentConnected": true, "attributes": [], "registeredAt": 1.0, "tags": [],
            "cluster": "default", "id": "i",
            "offered": {"cpu": 1, "memoryMib": 1, "reservedTcpPorts": [], "reservedUdpPorts": []},
            "remainingCpu": 1, "remainingMemory": 1, "taskTcpPorts": [], "taskUdpPorts": [], "tokenSha256": ""
        }))
        .unwrap();
        record.agent_update_status = status;
        record.agent_update =
            Some(AgentUpdateRecord { target_version: "2".into(), from_version: "1".into(), reason: None });
        record
    }

    #[test]
    fn registration_settles_an_update() {
        let mut r = record(Some(AgentUpdateStatus::Updating));
        settle_on_register(&mut r, "2");
        assert_eq!(r.agent_update_status, Some(AgentUpdateStatus::Updated));
        let mut r = record(Some(AgentUpdateStatus::Updating));
        settle_on_register(&mut r, "1");
        assert_eq!(r.agent_update_status, Some(AgentUpdateStatus::Failed));
        assert!(r.agent_update.unwrap().reason.unwrap().contains("version 1, not 2"));
        let mut r = record(Some(AgentUpdateStatus::Pending));
        settle_on_register(&mut r, "1");
        assert_eq!(r.agent_update_status, Some(AgentUpdateStatus::Pending), "not started: asked again");
    }

    #[test]
    fn progress_moves_forward_only_while_in_progress() {
        let report = |s: &str| AgentUpdateReport { status: s.into(), reason: None };
        let pending = Some(AgentUpdateStatus::Pending);
        assert_eq!(progress(pending, &report("STAGING")).unwrap(), Some(AgentUpdateStatus::Staging));
        assert_eq!(progress(Some(AgentUpdateStatus::Staged), &report("STAGING")).unwrap(), None);
        assert_eq!(progress(Some(AgentUpdateStatus::Updated), &report("FAILED")).unwrap(), None);
        assert_eq!(
            progress(Some(AgentUpdateStatus::Updating), &report("FAILED")).unwrap(),
            Some(AgentUpdateStatus::Failed)
        );
        assert!(progress(pending, &report("UPDATED")).is_err(), "only the server decides UPDATED");
    }
}

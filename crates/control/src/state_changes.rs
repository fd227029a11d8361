//! SubmitTaskStateChange, SubmitContainerStateChange and SubmitAttachmentStateChanges: the ECS API's way for an
//! agent to report, applied through exactly the path of the agent protocol's reports ([`Control::agent_report`]),
//! so the two can never disagree about a task.
//!
//! Only an agent may call them: the API crate passes the instance its instance token names ([`AgentCaller`]), and
//! a caller can change only the tasks placed on its own instance, in its own cluster.

use crate::records::TaskRecord;
use crate::status::TaskStatus;
use crate::tasks::LIFECYCLE;
use crate::tasks::stop::parse_task_ref;
use crate::{Control, ControlError, EcsException, Result};
use berth_model::agent::{ContainerReport, ReportRequest, TaskReport};
use berth_model::ecs::{
    SubmitAttachmentStateChangesRequest, SubmitAttachmentStateChangesResponse, SubmitContainerStateChangeRequest,
    SubmitContainerStateChangeResponse, SubmitTaskStateChangeRequest, SubmitTaskStateChangeResponse,
};

/// The acknowledgment the Submit* operations answer.
pub const ACK: &str = "ACK";

/// The container statuses an agent may report.
const CONTAINER_STATUSES: [&str; 3] = ["PENDING", "RUNNING", "STOPPED"];

/// The container instance whose agent is calling (authenticated by its instance token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCaller {
    /// The instance's cluster (short name).
    pub cluster: String,
    /// The instance's id.
    pub instance_id: String,
}

/// What one container's submitted change says.
struct ContainerChange<'a> {
    name: &'a str,
    runtime_id: Option<&'a String>,
    status: Option<&'a String>,
    exit_code: Option<i32>,
    reason: Option<&'a String>,
    network_bindings: Option<&'a Vec<berth_model::ecs::NetworkBinding>>,
    image_digest: Option<&'a String>,
}

/// The report of one container, starting from what the record shows so that what the change leaves out stays.
fn container_report(record: &TaskRecord, change: &ContainerChange<'_>) -> Result<ContainerReport> {
    let current = record
        .containers
        .iter()
        .position(|c| c.definition.name.as_deref() == Some(change.name))
        .and_then(|i| record.container_states.get(i))
        .ok_or_else(|| ControlError::invalid(format!("The task has no container named {}.", change.name)))?;
    if let Some(status) = change.status
        && !CONTAINER_STATUSES.contains(&status.as_str())
    {
        return Err(ControlError::invalid(format!(
            "Container status {status} is not one of {}.",
            CONTAINER_STATUSES.join(", ")
        )));
    }
    Ok(ContainerReport {
        name: change.name.to_string(),
        runtime_id: change.runtime_id.cloned(),
        last_status: change.status.cloned().unwrap_or_else(|| current.last_status.as_str().to_string()),
        exit_code: change.exit_code,
        reason: change.reason.cloned(),
        network_bindings: change.network_bindings.cloned().unwrap_or_default(),
        health_status: current.health_status.as_str().to_string(),
        image_digest: change.image_digest.cloned(),
        restart_count: 0,
    })
}

/// A task report that changes nothing by itself (same status, no containers).
fn base_report(record: &TaskRecord) -> TaskReport {
    TaskReport {
        task_arn: record.arn.clone(),
        last_status: record.last_status.as_str().to_string(),
        ..TaskReport::default()
    }
}

impl Control {
    /// The task a Submit* call names, which must be placed on the caller's instance.
    fn caller_task(&self, caller: &AgentCaller, cluster: Option<&str>, task: Option<&str>) -> Result<TaskRecord> {
        let cluster = self.cluster_name(cluster)?;
        if cluster != caller.cluster {
            return Err(ControlError::ecs(
                EcsException::AccessDeniedException,
                "An agent can only submit state changes in the cluster its container instance belongs to.",
            ));
        }
        let text = task.filter(|t| !t.trim().is_empty()).ok_or_else(|| ControlError::invalid("task is required."))?;
        let key = parse_task_ref(&cluster, text)?;
        let record = self.cache.read().tasks.get(&key).map(|v| (*v.record).clone());
        match record {
            Some(r) if r.instance_id == caller.instance_id => Ok(r),
            Some(_) => Err(ControlError::ecs(
                EcsException::AccessDeniedException,
                format!("Task {text} is not placed on the calling agent's container instance."),
            )),
            None => Err(ControlError::invalid(format!("Task {text} was not found in cluster {cluster}."))),
        }
    }

    async fn submit(&self, caller: &AgentCaller, report: TaskReport) -> Result<()> {
        let req = ReportRequest { tasks: vec![report], applied_revision: 0, usage: Vec::new() };
        let response = self.agent_report(&caller.cluster, &caller.instance_id, req).await?;
        if let Some(arn) = response.unknown_task_arns.first() {
            return Err(ControlError::invalid(format!("Task {arn} is already STOPPED; its state cannot change.")));
        }
        Ok(())
    }

    /// `SubmitTaskStateChange` from an agent: the task's status, its containers, pull and execution times.
    pub async fn submit_task_state_change(
        &self,
        caller: &AgentCaller,
        req: SubmitTaskStateChangeRequest,
    ) -> Result<SubmitTaskStateChangeResponse> {
        let record = self.caller_task(caller, req.cluster.as_deref(), req.task.as_deref())?;
        if req.managed_agents.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(ControlError::ecs(
                EcsException::UnsupportedFeatureException,
                "Managed agents (ECS Exec) are not supported by Berth; managedAgents must be empty.",
            ));
        }
        if let Some(a) = req.attachments.iter().flatten().next() {
            return Err(no_attachment(&a.attachment_arn));
        }
        let mut report = base_report(&record);
        if let Some(status) = &req.status {
            let Some(wanted) = TaskStatus::parse(status) else {
                let names: Vec<&str> = LIFECYCLE.iter().map(|s| s.as_str()).collect();
                return Err(ControlError::invalid(format!("Task status {status} is not one of {}.", names.join(", "))));
            };
            if TaskStatus::parse(&report.last_status).is_none_or(|current| wanted > current) {
                report.last_status = status.clone();
            }
        }
        for c in req.containers.iter().flatten() {
            let name =
                c.container_name.as_deref().ok_or_else(|| ControlError::invalid("containerName is required."))?;
            report.containers.push(container_report(
                &record,
                &ContainerChange {
                    name,
                    runtime_id: c.runtime_id.as_ref(),
                    status: c.status.as_ref(),
                    exit_code: c.exit_code,
                    reason: c.reason.as_ref(),
                    network_bindings: c.network_bindings.as_ref(),
                    image_digest: c.image_digest.as_ref(),
                },
            )?);
        }
        report.pull_started_at = req.pull_started_at;
        report.pull_stopped_at = req.pull_stopped_at;
        report.execution_stopped_at = req.execution_stopped_at;
        if report.last_status == "STOPPED"
            && let Some(reason) = req.reason.filter(|r| !r.is_empty())
        {
            // The agent stopped the task itself: as when its report carries a stop decision.
            report.stop_code = Some("EssentialContainerExited".into());
            report.stopped_reason = Some(reason);
        }
        self.submit(caller, report).await?;
        Ok(SubmitTaskStateChangeResponse { acknowledgment: Some(ACK.into()) })
    }

    /// `SubmitContainerStateChange` from an agent: one container's status, exit code, reason and bindings.
    pub async fn submit_container_state_change(
        &self,
        caller: &AgentCaller,
        req: SubmitContainerStateChangeRequest,
    ) -> Result<SubmitContainerStateChangeResponse> {
        let record = self.caller_task(caller, req.cluster.as_deref(), req.task.as_deref())?;
        let name = req.container_name.as_deref().ok_or_else(|| ControlError::invalid("containerName is required."))?;
        let mut report = base_report(&record);
        report.containers.push(container_report(
            &record,
            &ContainerChange {
                name,
                runtime_id: req.runtime_id.as_ref(),
                status: req.status.as_ref(),
                exit_code: req.exit_code,
                reason: req.reason.as_ref(),
                network_bindings: req.network_bindings.as_ref(),
                image_digest: None,
            },
        )?);
        self.submit(caller, report).await?;
        Ok(SubmitContainerStateChangeResponse { acknowledgment: Some(ACK.into()) })
    }

    /// `SubmitAttachmentStateChanges` from an agent. A Berth awsvpc task's interface is allocated by the control
    /// plane at placement and reported with the task, never through this call, so every attachment named is
    /// unknown here and the call is refused.
    pub async fn submit_attachment_state_changes(
        &self,
        caller: &AgentCaller,
        req: SubmitAttachmentStateChangesRequest,
    ) -> Result<SubmitAttachmentStateChangesResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        if cluster != caller.cluster {
            return Err(ControlError::ecs(
                EcsException::AccessDeniedException,
                "An agent can only submit state changes in the cluster its container instance belongs to.",
            ));
        }
        match req.attachments.first() {
            Some(a) => Err(no_attachment(&a.attachment_arn)),
            None => Err(ControlError::invalid("attachments must name at least one attachment.")),
        }
    }
}

fn no_attachment(arn: &str) -> ControlError {
    ControlError::invalid(format!(
        "Attachment {arn} was not found: Berth's task attachments (awsvpc interfaces) are allocated at placement and follow their task; agents report none separately."
    ))
}

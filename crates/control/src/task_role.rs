//! Task roles (`taskRoleArn`): which role a task's containers get credentials for, and the check that lets an
//! agent ask for them.
//!
//! The role is the RunTask override's `taskRoleArn` when set, else the task definition's. RunTask's `iam:PassRole`
//! check is the API layer's (`api::authz`); the session itself is issued by the API layer with
//! `berth_iam::Iam::issue_service_session` after [`Control::task_role_source`] has checked that the task is the
//! asking instance's and still running.

use crate::cache::State;
use crate::records::TaskRecord;
use crate::{Control, ControlError, Result};

/// The role a task's containers get credentials for, if any (the override's, else the task definition's).
pub fn effective_task_role(state: &State, record: &TaskRecord) -> Option<String> {
    if let Some(role) = record.overrides.as_ref().and_then(|o| o.task_role_arn.as_deref()).filter(|r| !r.is_empty()) {
        return Some(role.to_string());
    }
    if let Some(daemon) = crate::daemons::task_definitions::definition_of_task(state, record) {
        return daemon.definition.task_role_arn.clone().filter(|r| !r.is_empty());
    }
    let definition = crate::agent_task_access::definition_of(state, record)?;
    definition.task_definition.task_role_arn.clone().filter(|r| !r.is_empty())
}

/// What the server needs to issue a task's role credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRoleSource {
    /// The role.
    pub role_arn: String,
    /// The task's id (the session's name, as ECS names task role sessions).
    pub task_id: String,
}

impl Control {
    /// The roles the task definition `reference` (family, `family:revision` or ARN; or a daemon task definition's
    /// ARN) names, by member (`taskRoleArn`, `executionRoleArn`); none when it does not exist (RunTask or
    /// CreateDaemon then fails on its own).
    pub fn task_definition_roles(&self, reference: &str) -> Vec<(&'static str, String)> {
        let (task_role, execution_role) = if crate::daemons::task_definitions::is_daemon_task_definition_arn(reference)
        {
            let state = self.cache.read();
            let Ok(found) = crate::daemons::task_definitions::find_in(&state, reference) else { return Vec::new() };
            let d = &found.record.definition;
            (d.task_role_arn.clone(), d.execution_role_arn.clone())
        } else {
            let Ok(found) = self.find_task_definition(reference) else { return Vec::new() };
            let td = &found.record.task_definition;
            (td.task_role_arn.clone(), td.execution_role_arn.clone())
        };
        [("taskRoleArn", &task_role), ("executionRoleArn", &execution_role)]
            .into_iter()
            .filter_map(|(member, role)| Some((member, role.clone().filter(|r| !r.is_empty())?)))
            .collect()
    }

    /// The role of `task_arn` for the agent of `instance_id` (authenticated by the caller): refused unless the task
    /// is placed on that instance and not stopped; `ClientException` when the task has no role.
    pub fn task_role_source(&self, cluster: &str, instance_id: &str, task_arn: &str) -> Result<TaskRoleSource> {
        let state = self.cache.read();
        let record = crate::agent_task_access::running_task_of_instance(&state, cluster, instance_id, task_arn)?;
        let role_arn = effective_task_role(&state, record)
            .ok_or_else(|| ControlError::client(format!("The task {task_arn} has no task role.")))?;
        let task_id = task_arn.rsplit('/').next().unwrap_or_default().to_string();
        Ok(TaskRoleSource { role_arn, task_id })
    }
}

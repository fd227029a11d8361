//! Task roles (`taskRoleArn`): which role a task's containers get credentials for, and the check that lets an
//! agent ask for them.
//!
//! The role is the RunTask override's `taskRoleArn` when set, else the task definition's. RunTask's `iam:PassRole`
//! check is the API layer's (`api::authz`); the session itself is issued by the API layer with
//! `berth_iam::Iam::issue_service_session` after [`Control::task_role_source`] has checked that the task is the
//! asking instance's and still running.

use crate::cache::State;
use crate::records::TaskRecord;
use crate::status::TaskStatus;
use crate::{Control, ControlError, EcsException, Result};

/// The role a task's containers get credentials for, if any (the override's, else the task definition's).
pub fn effective_task_role(state: &State, record: &TaskRecord) -> Option<String> {
    if let Some(role) = record.overrides.as_ref().and_then(|o| o.task_role_arn.as_deref()).filter(|r| !r.is_empty()) {
        return Some(role.to_string());
    }
    let key = record
        .task_definition_arn
        .rsplit('/')
        .next()
        .and_then(|fr| fr.rsplit_once(':'))
        .and_then(|(family, revision)| Some((family.to_string(), revision.parse::<i32>().ok()?)))?;
    let definition = state.task_definitions.get(&key)?;
    definition.record.task_definition.task_role_arn.clone().filter(|r| !r.is_empty())
}

/// What the server needs to issue a task's role credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRoleSource {
    /// The role.
    pub role_arn: String,
    /// The task's id (the session's name, as ECS names task role sessions).
    pub task_id: String,
}

fn not_yours(task_arn: &str) -> ControlError {
    // The same answer for a task that does not exist, one on another instance and a stopped one.
    ControlError::ecs(
        EcsException::AccessDeniedException,
        format!("The task {task_arn} is not placed on this container instance."),
    )
}

impl Control {
    /// The roles the task definition `reference` (family, `family:revision` or ARN) names, by member
    /// (`taskRoleArn`, `executionRoleArn`); none when it does not exist (RunTask then fails on its own).
    pub fn task_definition_roles(&self, reference: &str) -> Vec<(&'static str, String)> {
        let Ok(found) = self.find_task_definition(reference) else { return Vec::new() };
        let td = &found.record.task_definition;
        [("taskRoleArn", &td.task_role_arn), ("executionRoleArn", &td.execution_role_arn)]
            .into_iter()
            .filter_map(|(member, role)| Some((member, role.clone().filter(|r| !r.is_empty())?)))
            .collect()
    }

    /// The role of `task_arn` for the agent of `instance_id` (authenticated by the caller): refused unless the task
    /// is placed on that instance and not stopped; `ClientException` when the task has no role.
    pub fn task_role_source(&self, cluster: &str, instance_id: &str, task_arn: &str) -> Result<TaskRoleSource> {
        let key = crate::tasks::stop::parse_task_ref(cluster, task_arn).map_err(|_| not_yours(task_arn))?;
        let state = self.cache.read();
        let task = state.tasks.get(&key).ok_or_else(|| not_yours(task_arn))?;
        let record = &task.record;
        // A Fargate task keeps its own cluster's ARN while its host is in the pool: compare the host's key.
        if record.arn != task_arn || record.instance_key() != (cluster.to_string(), instance_id.to_string()) {
            return Err(not_yours(task_arn));
        }
        if record.last_status() == Some(TaskStatus::Stopped) {
            return Err(not_yours(task_arn));
        }
        let role_arn = effective_task_role(&state, record)
            .ok_or_else(|| ControlError::client(format!("The task {task_arn} has no task role.")))?;
        let task_id = task_arn.rsplit('/').next().unwrap_or_default().to_string();
        Ok(TaskRoleSource { role_arn, task_id })
    }
}

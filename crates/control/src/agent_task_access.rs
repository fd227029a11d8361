//! What an agent may ask about a task: the one check the secrets and credentials endpoints make before they answer
//! (the task is placed on the asking instance and not stopped), and the task definition revision a task runs.

use crate::cache::State;
use crate::records::{TaskDefinitionRecord, TaskRecord};
use crate::status::TaskStatus;
use crate::{ControlError, EcsException, Result};

/// The same answer for a task that does not exist, one on another instance and a stopped one: an agent learns
/// nothing about tasks that are not its own.
pub(crate) fn not_yours(task_arn: &str) -> ControlError {
    ControlError::ecs(
        EcsException::AccessDeniedException,
        format!("The task {task_arn} is not placed on this container instance."),
    )
}

/// The task `task_arn` when it is placed on instance `instance_id` of `cluster` (the asking agent's) and not
/// STOPPED. A Fargate task keeps its own cluster's ARN while its host is in the pool, so the host's key is compared.
pub(crate) fn running_task_of_instance<'s>(
    state: &'s State,
    cluster: &str,
    instance_id: &str,
    task_arn: &str,
) -> Result<&'s TaskRecord> {
    let key = crate::tasks::stop::parse_task_ref(cluster, task_arn).map_err(|_| not_yours(task_arn))?;
    let record = &*state.tasks.get(&key).ok_or_else(|| not_yours(task_arn))?.record;
    if record.arn != task_arn || record.instance_key() != (cluster.to_string(), instance_id.to_string()) {
        return Err(not_yours(task_arn));
    }
    if record.last_status() == Some(TaskStatus::Stopped) {
        return Err(not_yours(task_arn));
    }
    Ok(record)
}

/// The task definition revision `record` runs, when the cache still has it.
pub(crate) fn definition_of<'s>(state: &'s State, record: &TaskRecord) -> Option<&'s TaskDefinitionRecord> {
    // A daemon task runs a daemon task definition, never the task definition of the same family and revision.
    if crate::daemons::task_definitions::is_daemon_task_definition_arn(&record.task_definition_arn) {
        return None;
    }
    let (family, revision) = record.task_definition_arn.rsplit('/').next()?.rsplit_once(':')?;
    let key = (family.to_string(), revision.parse::<i32>().ok()?);
    state.task_definitions.get(&key).map(|v| &*v.record)
}

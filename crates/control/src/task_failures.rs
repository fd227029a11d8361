//! Every task failure in the server's own log, once: when the cache applies the write that moves a task to
//! STOPPED with a failure (it failed to start, its essential container exited, or a health check stopped it), one
//! `warn!` names the cluster, the task, its stop code and its reason, with the first essential container that
//! stopped with an exit code or a reason. The cache applies each stored change once, so a task is logged once per
//! server process whatever the controllers do afterwards (a re-list after a broken watch logs nothing: it has no
//! "before").

use crate::records::TaskRecord;
use crate::status::{ContainerStatus, TaskStatus};

/// What one failed task's log line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// The cluster's short name.
    pub cluster: String,
    /// The task's id.
    pub task: String,
    /// Its `group` (`service:NAME`, `family:NAME` ...), or empty.
    pub group: String,
    /// Its stop code, or empty.
    pub stop_code: String,
    /// Its stopped reason, or empty.
    pub reason: String,
    /// The essential container that stopped with an exit code or a reason, as `NAME (exit code N) (reason R)`.
    pub container: Option<String>,
}

/// The failure to log when a task record changes from `before` to `after`: only when `after` is the first STOPPED
/// version of a failed task.
pub fn newly_failed(before: &TaskRecord, after: &TaskRecord) -> Option<TaskFailure> {
    if before.last_status() == Some(TaskStatus::Stopped) || after.last_status() != Some(TaskStatus::Stopped) {
        return None;
    }
    if !crate::services::is_failure(after) {
        return None;
    }
    let container = after.containers.iter().zip(&after.container_states).find_map(|(spec, state)| {
        let stopped = state.last_status == ContainerStatus::Stopped && spec.definition.essential != Some(false);
        let said = state.exit_code.is_some() || state.reason.is_some();
        (stopped && said).then(|| {
            let mut text = spec.definition.name.clone().unwrap_or_default();
            if let Some(code) = state.exit_code {
                text.push_str(&format!(" (exit code {code})"));
            }
            if let Some(reason) = &state.reason {
                text.push_str(&format!(" (reason {reason})"));
            }
            text
        })
    });
    Some(TaskFailure {
        cluster: after.cluster.clone(),
        task: after.id().to_string(),
        group: after.group.clone().unwrap_or_default(),
        stop_code: after.stop_code.map(|c| c.as_str().to_string()).unwrap_or_default(),
        reason: after.stopped_reason.clone().unwrap_or_default(),
        container,
    })
}

/// Logs `failure` as one warning.
pub fn log(failure: &TaskFailure) {
    tracing::warn!(
        cluster = %failure.cluster,
        task = %failure.task,
        group = %failure.group,
        stop_code = %failure.stop_code,
        reason = %failure.reason,
        container = failure.container.as_deref().unwrap_or("-"),
        "task failed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ContainerState;
    use crate::status::StopCode;

    fn task(status: TaskStatus, code: Option<StopCode>, reason: &str) -> TaskRecord {
        TaskRecord {
            arn: "arn:aws:ecs:us-east-1:000000000000:task/default/abc".into(),
            cluster: "default".into(),
            group: Some("service:web".into()),
            last_status: status,
            stop_code: code,
            stopped_reason: Some(reason.into()).filter(|r: &String| !r.is_empty()),
            ..TaskRecord::default()
        }
    }

    #[test]
    fn the_first_stopped_version_of_a_failed_task_is_logged() {
        let running = task(TaskStatus::Running, None, "");
        let mut stopped =
            task(TaskStatus::Stopped, Some(StopCode::EssentialContainerExited), "Essential container in task exited");
        let failure = newly_failed(&running, &stopped).expect("a failure");
        assert_eq!(failure.cluster, "default");
        assert_eq!(failure.task, "abc");
        assert_eq!(failure.group, "service:web");
        assert_eq!(failure.stop_code, "EssentialContainerExited");
        assert_eq!(failure.reason, "Essential container in task exited");
        assert_eq!(newly_failed(&stopped, &stopped), None, "a later write of the stopped task is not logged again");
        stopped.stop_code = Some(StopCode::TaskFailedToStart);
        assert!(newly_failed(&running, &stopped).is_some());
    }

    #[test]
    fn tasks_stopped_on_purpose_are_not_failures() {
        let running = task(TaskStatus::Running, None, "");
        for code in [StopCode::UserInitiated, StopCode::ServiceSchedulerInitiated] {
            assert_eq!(newly_failed(&running, &task(TaskStatus::Stopped, Some(code), "Scaling activity")), None);
        }
        let stopping = task(TaskStatus::Deprovisioning, Some(StopCode::EssentialContainerExited), "exited");
        assert_eq!(newly_failed(&running, &stopping), None, "logged when it reaches STOPPED, not before");
    }

    #[test]
    fn the_container_that_exited_is_named() {
        let running = task(TaskStatus::Running, None, "");
        let mut stopped = task(TaskStatus::Stopped, Some(StopCode::EssentialContainerExited), "exited");
        let mut spec = berth_model::agent::ContainerSpec::default();
        spec.definition.name = Some("app".into());
        stopped.containers = vec![spec];
        stopped.container_states = vec![ContainerState {
            runtime_id: None,
            image_digest: None,
            last_status: ContainerStatus::Stopped,
            exit_code: Some(3),
            reason: Some("boom".into()),
            network_bindings: Vec::new(),
            health_status: crate::status::HealthState::Unknown,
        }];
        let failure = newly_failed(&running, &stopped).expect("a failure");
        assert_eq!(failure.container.as_deref(), Some("app (exit code 3) (reason boom)"));
    }
}

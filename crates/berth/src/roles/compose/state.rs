//! Where a service stands, from DescribeServices and its tasks: running and healthy counts of its current task
//! definition, and a task that failed (or completed) since `compose up` began.

use serde_json::Value;

/// A service's progress.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    /// The desired count.
    pub desired: u64,
    /// Tasks of the current task definition that are RUNNING.
    pub running: u64,
    /// Of those, the HEALTHY ones.
    pub healthy: u64,
    /// A task of the current task definition that stopped other than with exit code 0: why.
    pub failure: Option<String>,
    /// A task of the current task definition stopped with exit code 0.
    pub completed: bool,
}

impl Progress {
    /// Every desired task runs (and is healthy when the container has a health check).
    pub fn ready(&self, health_checked: bool) -> bool {
        self.desired > 0 && self.running >= self.desired && (!health_checked || self.healthy >= self.desired)
    }

    /// The line shown for the service.
    pub fn line(&self, health_checked: bool) -> String {
        let line = if health_checked && self.running > 0 {
            format!("running {}/{}, healthy {}/{}", self.running, self.desired, self.healthy, self.desired)
        } else {
            format!("running {}/{}", self.running, self.desired)
        };
        if self.completed { format!("{line}, completed successfully") } else { line }
    }
}

/// Sums up `service` (a DescribeServices entry) and its tasks (DescribeTasks entries, running and stopped) created
/// at or after `since` (epoch seconds; older stopped tasks are history).
pub fn summarise(service: &Value, tasks: &[Value], since: f64) -> Progress {
    let current = service["taskDefinition"].as_str().unwrap_or_default();
    let mut progress = Progress { desired: service["desiredCount"].as_u64().unwrap_or(0), ..Progress::default() };
    for task in tasks.iter().filter(|t| t["taskDefinitionArn"].as_str() == Some(current)) {
        match task["lastStatus"].as_str() {
            Some("RUNNING") if task["desiredStatus"].as_str() == Some("RUNNING") => {
                progress.running += 1;
                if task["healthStatus"].as_str() == Some("HEALTHY") {
                    progress.healthy += 1;
                }
            }
            Some("STOPPED") if task["createdAt"].as_f64().unwrap_or(0.0) >= since => {
                let reason = task["stoppedReason"].as_str().unwrap_or_default();
                if reason.starts_with("Scaling activity") {
                    continue;
                }
                let exit_codes: Vec<Option<i64>> =
                    task["containers"].as_array().into_iter().flatten().map(|c| c["exitCode"].as_i64()).collect();
                if !exit_codes.is_empty() && exit_codes.iter().all(|c| *c == Some(0)) {
                    progress.completed = true;
                } else if progress.failure.is_none() {
                    let id = task["taskArn"].as_str().and_then(|a| a.rsplit('/').next()).unwrap_or("?");
                    let codes: Vec<String> = exit_codes.iter().flatten().map(|c| c.to_string()).collect();
                    let exit =
                        if codes.is_empty() { String::new() } else { format!(" (exit code {})", codes.join(", ")) };
                    progress.failure = Some(format!("task {id} stopped: {reason}{exit}"));
                }
            }
            _ => {}
        }
    }
    progress
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(td: &str, last: &str, health: &str, created: f64, exit: Option<i64>, reason: &str) -> Value {
        json!({"taskArn": "arn:aws:ecs:us-east-1:0:task/default/abc", "taskDefinitionArn": td, "lastStatus": last,
               "desiredStatus": if last == "STOPPED" { "STOPPED" } else { "RUNNING" }, "healthStatus": health,
               "createdAt": created, "stoppedReason": reason, "containers": [{"exitCode": exit}]})
    }

    #[test]
    fn counts_only_the_current_task_definition() {
        let service = json!({"taskDefinition": "td:2", "desiredCount": 2});
        let tasks = [
            task("td:2", "RUNNING", "HEALTHY", 10.0, None, ""),
            task("td:2", "RUNNING", "UNKNOWN", 10.0, None, ""),
            task("td:1", "RUNNING", "HEALTHY", 1.0, None, ""),
            task("td:2", "PENDING", "UNKNOWN", 10.0, None, ""),
        ];
        let progress = summarise(&service, &tasks, 5.0);
        assert_eq!((progress.desired, progress.running, progress.healthy), (2, 2, 1));
        assert!(progress.ready(false));
        assert!(!progress.ready(true), "one is not healthy yet");
        assert_eq!(progress.line(true), "running 2/2, healthy 1/2");
        assert_eq!(progress.failure, None);
    }

    #[test]
    fn failures_and_completions_since_the_start() {
        let service = json!({"taskDefinition": "td:2", "desiredCount": 1});
        let old = task("td:2", "STOPPED", "UNKNOWN", 1.0, Some(1), "Essential container in task exited");
        assert_eq!(summarise(&service, std::slice::from_ref(&old), 5.0).failure, None, "before this run");
        let failed = task("td:2", "STOPPED", "UNKNOWN", 9.0, Some(3), "Essential container in task exited");
        assert_eq!(
            summarise(&service, &[failed], 5.0).failure.as_deref(),
            Some("task abc stopped: Essential container in task exited (exit code 3)")
        );
        let no_start = task("td:2", "STOPPED", "UNKNOWN", 9.0, None, "CannotPullContainerError: nope");
        assert_eq!(
            summarise(&service, &[no_start], 5.0).failure.as_deref(),
            Some("task abc stopped: CannotPullContainerError: nope")
        );
        let done = task("td:2", "STOPPED", "UNKNOWN", 9.0, Some(0), "Essential container in task exited");
        let progress = summarise(&service, &[done], 5.0);
        assert!(progress.completed && progress.failure.is_none());
        assert_eq!(progress.line(false), "running 0/1, completed successfully");
        let scaled = task("td:2", "STOPPED", "UNKNOWN", 9.0, Some(143), "Scaling activity initiated by deployment");
        assert_eq!(summarise(&service, &[scaled], 5.0).failure, None);
        assert!(!Progress::default().ready(false), "nothing desired is not ready");
    }
}

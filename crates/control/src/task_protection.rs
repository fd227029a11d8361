//! Task scale-in protection: GetTaskProtection and UpdateTaskProtection, and the rule the service scheduler asks
//! ([`protected_now`]) before it stops a task on scale-in or to replace it in a deployment.
//!
//! Protection is stored on the task record as the time it expires, so it survives a restart, and it ends by
//! itself when the control plane's clock passes that time: nothing has to run to clear it.

use crate::optimistic::Attempt;
use crate::records::{TaskRecord, keys};
use crate::status::TaskStatus;
use crate::tasks::stop::parse_task_ref;
use crate::{Control, ControlError, Result, encode};
use berth_model::Timestamp;
use berth_model::ecs::{
    Failure, GetTaskProtectionRequest, GetTaskProtectionResponse, ProtectedTask, UpdateTaskProtectionRequest,
    UpdateTaskProtectionResponse,
};
use berth_store::Txn;

/// ECS's default protection period: 2 hours.
pub const DEFAULT_EXPIRES_IN_MINUTES: i32 = 120;
/// ECS's longest protection period: 48 hours.
pub const MAX_EXPIRES_IN_MINUTES: i32 = 2880;
/// How many tasks one call may name (ECS: 10).
pub const MAX_TASKS: usize = 10;
/// The failure reason of a task that does not belong to a service (ECS's).
pub const TASK_NOT_VALID: &str = "TASK_NOT_VALID";

/// Whether `task` is protected from scale-in and deployment replacement at `now`.
pub fn protected_now(task: &TaskRecord, now: Timestamp) -> bool {
    task.protection_expires_at.is_some_and(|expires| now < expires)
}

/// Whether a task was started by a service (only those can be protected, as on ECS).
fn in_service(task: &TaskRecord) -> bool {
    task.group.as_deref().is_some_and(|g| g.starts_with("service:"))
        && task.started_by.as_deref().is_some_and(|s| s.starts_with("ecs-svc/"))
}

/// The protection of a task as ECS shows it: an expired protection shows as not enabled, without a date.
fn shown(task: &TaskRecord, now: Timestamp) -> ProtectedTask {
    let enabled = protected_now(task, now);
    ProtectedTask {
        task_arn: Some(task.arn.clone()),
        protection_enabled: enabled,
        expiration_date: task.protection_expires_at.filter(|_| enabled),
    }
}

fn check_task_count(count: usize) -> Result<()> {
    if count == 0 || count > MAX_TASKS {
        return Err(ControlError::invalid(format!("tasks must name between 1 and {MAX_TASKS} tasks.")));
    }
    Ok(())
}

/// The expiry an UpdateTaskProtection asks for: `None` to remove protection.
fn requested_expiry(req: &UpdateTaskProtectionRequest, now: Timestamp) -> Result<Option<Timestamp>> {
    if !req.protection_enabled {
        if req.expires_in_minutes.is_some() {
            return Err(ControlError::invalid("expiresInMinutes can only be set when protectionEnabled is true."));
        }
        return Ok(None);
    }
    let minutes = req.expires_in_minutes.unwrap_or(DEFAULT_EXPIRES_IN_MINUTES);
    if !(1..=MAX_EXPIRES_IN_MINUTES).contains(&minutes) {
        return Err(ControlError::invalid(format!(
            "expiresInMinutes must be between 1 and {MAX_EXPIRES_IN_MINUTES} minutes; it was {minutes}."
        )));
    }
    Ok(Some(now + f64::from(minutes) * 60.0))
}

impl Control {
    /// `GetTaskProtection`: the protection of the named tasks (or, without `tasks`, of every protected task of the
    /// cluster); unknown tasks are `MISSING` failures, tasks outside services `TASK_NOT_VALID`.
    pub fn get_task_protection(&self, req: GetTaskProtectionRequest) -> Result<GetTaskProtectionResponse> {
        let cluster = self.cluster_name(Some(&req.cluster))?;
        let now = self.now();
        let state = self.cache.read();
        let (mut protected, mut failures) = (Vec::new(), Vec::new());
        match &req.tasks {
            Some(tasks) => {
                check_task_count(tasks.len())?;
                for text in tasks {
                    let found = parse_task_ref(&cluster, text).ok().and_then(|key| state.tasks.get(&key));
                    match found {
                        Some(v) if in_service(&v.record) => protected.push(shown(&v.record, now)),
                        Some(v) => failures.push(not_valid(&v.record)),
                        None => failures.push(self.missing_in(&state, "task", &cluster, text)),
                    }
                }
            }
            None => {
                for ((c, _), v) in state.tasks.range((cluster.clone(), String::new())..) {
                    if *c != cluster {
                        break;
                    }
                    if protected_now(&v.record, now) {
                        protected.push(shown(&v.record, now));
                    }
                }
            }
        }
        Ok(GetTaskProtectionResponse { protected_tasks: Some(protected), failures: Some(failures) })
    }

    /// `UpdateTaskProtection`: protects (for `expiresInMinutes`, 120 by default, 1 to 2880) or unprotects service
    /// tasks. Setting protection again restarts its period. Unknown tasks are `MISSING` failures; stopped tasks
    /// and tasks outside services are `TASK_NOT_VALID`.
    pub async fn update_task_protection(
        &self,
        req: UpdateTaskProtectionRequest,
    ) -> Result<UpdateTaskProtectionResponse> {
        let cluster = self.cluster_name(Some(&req.cluster))?;
        check_task_count(req.tasks.len())?;
        requested_expiry(&req, self.now())?;
        let (protected, failures) = self
            .write("updating task protection", |state, now| {
                let expiry = requested_expiry(&req, now)?;
                let mut txn = Txn::new();
                let mut changed = false;
                let (mut protected, mut failures) = (Vec::new(), Vec::new());
                let mut seen = std::collections::BTreeSet::new();
                for text in &req.tasks {
                    let found = parse_task_ref(&cluster, text).ok().and_then(|key| state.tasks.get(&key).cloned());
                    let Some(v) = found else {
                        failures.push(self.missing_in(state, "task", &cluster, text));
                        continue;
                    };
                    let stopped = v.record.last_status() == Some(TaskStatus::Stopped);
                    if !in_service(&v.record) || stopped {
                        failures.push(not_valid(&v.record));
                        continue;
                    }
                    let mut record = (*v.record).clone();
                    record.protection_expires_at = expiry;
                    protected.push(shown(&record, now));
                    let key = keys::task(&cluster, crate::instances::task_id(&record));
                    if seen.insert(key.clone()) && record != *v.record {
                        txn = txn.expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
                        changed = true;
                    }
                }
                let answer = (protected, failures);
                Ok(if changed { Attempt::Commit(txn, answer) } else { Attempt::Done(answer) })
            })
            .await?;
        Ok(UpdateTaskProtectionResponse { protected_tasks: Some(protected), failures: Some(failures) })
    }
}

fn not_valid(task: &TaskRecord) -> Failure {
    Failure {
        arn: Some(task.arn.clone()),
        reason: Some(TASK_NOT_VALID.into()),
        detail: Some(if task.last_status() == Some(TaskStatus::Stopped) {
            "The task is stopped.".into()
        } else {
            "Task protection is only supported for tasks that belong to a service.".into()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(enabled: bool, minutes: Option<i32>) -> UpdateTaskProtectionRequest {
        UpdateTaskProtectionRequest {
            cluster: "default".into(),
            tasks: vec!["t".into()],
            protection_enabled: enabled,
            expires_in_minutes: minutes,
        }
    }

    #[test]
    fn expiry_defaults_to_two_hours_within_one_minute_and_two_days() {
        assert_eq!(requested_expiry(&request(true, None), 1000.0).unwrap(), Some(1000.0 + 7200.0));
        assert_eq!(requested_expiry(&request(true, Some(1)), 0.0).unwrap(), Some(60.0));
        assert_eq!(requested_expiry(&request(true, Some(2880)), 0.0).unwrap(), Some(2880.0 * 60.0));
        for bad in [0, -1, 2881] {
            assert!(requested_expiry(&request(true, Some(bad)), 0.0).is_err(), "{bad}");
        }
        assert_eq!(requested_expiry(&request(false, None), 0.0).unwrap(), None);
        assert!(requested_expiry(&request(false, Some(5)), 0.0).is_err());
    }

    #[test]
    fn protection_ends_when_the_clock_passes_its_expiry() {
        let mut record = TaskRecord {
            arn: "arn:aws:ecs:us-east-1:0:task/default/t".into(),
            group: Some("service:web".into()),
            started_by: Some("ecs-svc/1".into()),
            cluster: "default".into(),
            instance_id: "i".into(),
            ..Default::default()
        };
        assert!(in_service(&record));
        assert!(!protected_now(&record, 0.0), "a task never protected is unprotected");
        record.protection_expires_at = Some(100.0);
        assert!(protected_now(&record, 99.9));
        assert_eq!(shown(&record, 99.9).expiration_date, Some(100.0));
        assert!(!protected_now(&record, 100.0));
        assert!(!shown(&record, 100.0).protection_enabled);
        record.group = Some("batch".into());
        assert!(!in_service(&record));
    }
}

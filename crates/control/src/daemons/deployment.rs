//! A daemon deployment's state machine: counting failures for the circuit breaker, tripping it into a rollback (or
//! ROLLBACK_FAILED when there is nothing to roll back to), the bake time after each step, and the end
//! (SUCCESSFUL or ROLLBACK_SUCCESSFUL). `pass.rs` reports the steps it begins ([`Control::mark_step`]).

use super::pass::{failed, fits, template};
use super::records::{DaemonDeploymentRecord, DaemonRecord, DaemonRollbackRecord, keys};
use super::rollout::{DaemonTaskView, InstanceView, RESTART_DELAY_SECONDS, plan};
use super::{instances_of, is_running, started_by, tasks_on};
use crate::cache::State;
use crate::optimistic::Attempt;
use crate::status::{DesiredStatus, StopCode, TaskStatus};
use crate::{Control, Result, encode};
use berth_model::ecs::DaemonDeploymentStatus;
use berth_store::Txn;

impl Control {
    /// Notes that the active deployment began a step (so its bake time runs when the step ends; a bake time still
    /// running is not cut short: replacements wait for it, and only starts on instances without a daemon task,
    /// which never wait, can begin a step meanwhile).
    pub(super) async fn mark_step(&self, key: &(String, String), deployment: &str) -> Result<()> {
        self.update_daemon_record(key, |_, daemon, _| {
            let Some(d) = daemon.deployments.iter_mut().rev().find(|d| d.id == deployment && d.is_active()) else {
                return false;
            };
            let changed = !d.step_in_flight;
            d.step_in_flight = true;
            changed
        })
        .await
    }

    /// Counts failures for the circuit breaker (rolling back when it trips), and finishes a deployment whose
    /// revision runs everywhere once its bake time has passed.
    pub(super) async fn advance_deployment(&self, key: &(String, String)) -> Result<()> {
        let agents_timeout = self.config.agent_timeout;
        self.update_daemon_record(key, |state, daemon, now| {
            let (step_done, all_done) = progress(self, state, daemon, agents_timeout, now);
            let snapshot = daemon.clone();
            let Some(mut d) = daemon.deployments.last().filter(|d| d.is_active()).cloned() else { return false };
            count_failures(state, &snapshot, &mut d);
            if d.rollback.is_none() && d.circuit_breaker.failure_count >= d.circuit_breaker.threshold {
                trip(&mut d, now);
            }
            if d.status == DaemonDeploymentStatus::RollbackInProgress
                && let Some(target) = d.effective_revision()
            {
                daemon.current_revision = target.to_string();
            }
            if d.is_active() && step_done && d.step_in_flight {
                // The step just ended: its bake time runs before the next step, and before the deployment ends.
                d.step_in_flight = false;
                let bake = f64::from(d.configuration.bake_time_in_minutes) * 60.0;
                if bake > 0.0 {
                    d.bake_until = Some(now + bake);
                }
            }
            if d.is_active() && all_done && !d.step_in_flight && d.bake_until.is_none_or(|until| now >= until) {
                finish(&mut d, now);
            }
            let changed =
                Some(&d) != snapshot.deployments.last() || daemon.current_revision != snapshot.current_revision;
            if let Some(last) = daemon.deployments.last_mut() {
                *last = d;
            }
            changed
        })
        .await
    }

    /// Reads the daemon, lets `change` edit it (returning whether it changed) and writes it with compare-and-swap.
    async fn update_daemon_record(
        &self,
        key: &(String, String),
        mut change: impl FnMut(&State, &mut DaemonRecord, f64) -> bool,
    ) -> Result<()> {
        self.write("updating a daemon's deployment", |state, now| {
            let Some(v) = state.daemons.get(key) else { return Ok(Attempt::Done(())) };
            let mut record = (*v.record).clone();
            if !change(state, &mut record, now) || record == *v.record {
                return Ok(Attempt::Done(()));
            }
            record.updated_at = now;
            let store_key = keys::daemon(&key.0, &key.1);
            let txn = Txn::new().expect(store_key.clone(), v.mod_revision).put(store_key, encode(&record)?);
            Ok(Attempt::Commit(txn, ()))
        })
        .await
    }
}

/// Whether the deployment's current step is done (nothing stopping, every instance that can take a daemon task has
/// one RUNNING), and whether the whole deployment is (every instance runs its revision).
fn progress(
    control: &Control,
    state: &State,
    daemon: &DaemonRecord,
    timeout: std::time::Duration,
    now: f64,
) -> (bool, bool) {
    let Some(d) = daemon.last_deployment().filter(|d| d.is_active()) else { return (false, false) };
    let Some(revision) = d.effective_revision() else { return (false, false) };
    let template = daemon.revision(revision).and_then(|r| template(state, r).ok());
    let views: Vec<InstanceView> = instances_of(state, daemon)
        .into_iter()
        .map(|(_, instance)| {
            let tasks = tasks_on(state, daemon, &instance.id);
            let live = tasks.iter().rev().find(|t| t.last_status() != Some(TaskStatus::Stopped));
            let recently_failed = tasks
                .last()
                .is_some_and(|t| failed(t) && t.stopped_at.is_some_and(|at| now < at + RESTART_DELAY_SECONDS));
            InstanceView {
                id: instance.id.clone(),
                task: live.map(|t| DaemonTaskView {
                    key: (t.cluster.clone(), String::new()),
                    revision: t.daemon_revision.clone().unwrap_or_default(),
                    running: is_running(t),
                    stopping: t.desired_status == DesiredStatus::Stopped,
                }),
                may_start: live.is_none()
                    && (recently_failed
                        || control.agents.is_connected(&instance.id, timeout)
                            && template.as_ref().is_some_and(|t| fits(instance, t))),
            }
        })
        .collect();
    let plan = plan(&views, revision, true, views.len().max(1), true);
    (plan.step_done, plan.settled)
}

/// Counts the deployment's target-revision tasks that failed, each once (not during a rollback).
fn count_failures(state: &State, daemon: &DaemonRecord, d: &mut DaemonDeploymentRecord) {
    if d.rollback.is_some() {
        return;
    }
    let Some(target) = d.target_revision.clone() else { return };
    let marker = started_by(&d.id);
    for key in state.tasks_by_group.get(&(daemon.cluster.clone(), super::group(&daemon.name))).into_iter().flatten() {
        let Some(task) = state.tasks.get(key) else { continue };
        let task = &task.record;
        let failed_start =
            matches!(task.stop_code, Some(StopCode::TaskFailedToStart | StopCode::EssentialContainerExited));
        if task.started_by.as_deref() != Some(marker.as_str())
            || task.daemon_revision.as_deref() != Some(target.as_str())
            || task.last_status() != Some(TaskStatus::Stopped)
            || !failed_start
        {
            continue;
        }
        let id = task.arn.rsplit('/').next().unwrap_or_default().to_string();
        if !d.circuit_breaker.counted.contains(&id) {
            d.circuit_breaker.counted.push(id);
            d.circuit_breaker.failure_count += 1;
        }
    }
}

/// The circuit breaker tripped: roll back to the revision that ran before, or fail when there is none.
fn trip(d: &mut DaemonDeploymentRecord, now: f64) {
    d.circuit_breaker.triggered = true;
    let reason = format!(
        "The deployment's circuit breaker tripped: {} daemon tasks of the new revision failed (threshold {}).",
        d.circuit_breaker.failure_count, d.circuit_breaker.threshold
    );
    let target = d.target_revision.clone();
    match d.source_revisions.iter().rev().find(|r| Some(*r) != target.as_ref()).cloned() {
        Some(previous) => {
            d.status = DaemonDeploymentStatus::RollbackInProgress;
            d.status_reason = Some(format!("{reason} Rolling back to the revision that ran before."));
            d.rollback = Some(DaemonRollbackRecord { reason, started_at: now, target_revision: previous });
            d.bake_until = None;
            d.step_in_flight = false;
        }
        None => {
            d.status = DaemonDeploymentStatus::RollbackFailed;
            d.status_reason = Some(format!("{reason} There is no earlier revision to roll back to."));
            d.finished_at = Some(now);
        }
    }
}

/// The deployment's revision runs everywhere and its bake time has passed.
fn finish(d: &mut DaemonDeploymentRecord, now: f64) {
    if d.rollback.is_some() {
        d.status = DaemonDeploymentStatus::RollbackSuccessful;
        d.status_reason = Some("The daemon rolled back to the revision that ran before.".into());
    } else {
        d.status = DaemonDeploymentStatus::Successful;
        d.status_reason = Some("Every instance of the daemon's capacity providers runs the revision.".into());
    }
    d.finished_at = Some(now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemons::records::DaemonBreakerRecord;

    fn deployment(sources: &[&str]) -> DaemonDeploymentRecord {
        DaemonDeploymentRecord {
            id: "d1".into(),
            status: DaemonDeploymentStatus::InProgress,
            status_reason: None,
            target_revision: Some("r2".into()),
            source_revisions: sources.iter().map(|s| s.to_string()).collect(),
            configuration: Default::default(),
            circuit_breaker: DaemonBreakerRecord { failure_count: 3, threshold: 3, ..Default::default() },
            rollback: None,
            bake_until: None,
            step_in_flight: true,
            created_at: 1.0,
            started_at: Some(1.0),
            stopped_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn a_tripped_breaker_rolls_back_to_the_previous_revision() {
        let mut d = deployment(&["r1"]);
        trip(&mut d, 5.0);
        assert_eq!(d.status, DaemonDeploymentStatus::RollbackInProgress);
        assert_eq!(d.effective_revision(), Some("r1"));
        assert!(d.circuit_breaker.triggered);
        finish(&mut d, 9.0);
        assert_eq!(d.status, DaemonDeploymentStatus::RollbackSuccessful);
    }

    #[test]
    fn a_first_deployment_has_nothing_to_roll_back_to() {
        let mut d = deployment(&[]);
        trip(&mut d, 5.0);
        assert_eq!(d.status, DaemonDeploymentStatus::RollbackFailed);
        assert!(!d.is_active());
        assert!(d.status_reason.unwrap().contains("no earlier revision"));
    }
}

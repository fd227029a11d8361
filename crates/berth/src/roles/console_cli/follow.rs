//! Following a deployment, as a pure state machine fed with successive DescribeServices answers: it says what
//! changed (tasks started and healthy, older deployments drained, the rollout state and the circuit breaker's
//! reason, each new service event once, oldest first) and when the deployment is over: COMPLETED, FAILED (the
//! circuit breaker tripped, with or without rollback), or replaced by another deployment.

use berth_model::ecs;
use std::collections::HashSet;

/// How a followed deployment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its rollout state is COMPLETED.
    Completed,
    /// Its rollout state is FAILED (with the reason ECS gives).
    Failed(String),
    /// Another deployment took its place (a rollback, or a newer UpdateService).
    Replaced(String),
}

/// What one look at the service says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// Lines to print, in order.
    pub lines: Vec<String>,
    /// A new event says a task could not be placed.
    pub placement_failed: bool,
    /// The deployment is over.
    pub outcome: Option<Outcome>,
}

/// The state of one followed deployment.
#[derive(Debug, Clone)]
pub struct Follow {
    task_definition: String,
    deployment_id: Option<String>,
    seen_events: HashSet<String>,
    last_progress: String,
    last_reason: Option<String>,
    older_were_running: bool,
}

fn event_key(event: &ecs::ServiceEvent) -> String {
    event.id.clone().unwrap_or_else(|| format!("{:?}{:?}", event.created_at, event.message))
}

impl Follow {
    /// Follows the deployment of `task_definition` (ARN); the events already in `before` are not printed again.
    pub fn new(task_definition: &str, before: &ecs::Service) -> Self {
        Self {
            task_definition: task_definition.to_string(),
            deployment_id: None,
            seen_events: before.events.as_deref().unwrap_or_default().iter().map(event_key).collect(),
            last_progress: String::new(),
            last_reason: None,
            // The tasks running before the update belong to the deployments it makes older.
            older_were_running: before.running_count > 0,
        }
    }

    /// The followed deployment's id, once seen.
    pub fn deployment_id(&self) -> Option<&str> {
        self.deployment_id.as_deref()
    }

    /// Looks at `service` (with `healthy` tasks of the followed deployment passing their health checks).
    pub fn observe(&mut self, service: &ecs::Service, healthy: usize) -> Observation {
        let mut seen = Observation::default();
        let events = service.events.as_deref().unwrap_or_default();
        for event in events.iter().rev() {
            if self.seen_events.insert(event_key(event)) {
                let message = event.message.as_deref().unwrap_or_default();
                seen.placement_failed |= super::placement::is_placement_failure(message);
                seen.lines.push(format!("event: {message}"));
            }
        }
        let deployments = service.deployments.as_deref().unwrap_or_default();
        let ours = match &self.deployment_id {
            Some(id) => deployments.iter().find(|d| d.id.as_deref() == Some(id)),
            None => deployments.iter().find(|d| d.task_definition.as_deref() == Some(self.task_definition.as_str())),
        };
        let Some(ours) = ours else {
            if self.deployment_id.is_some() {
                let primary = deployments.iter().find(|d| d.status.as_deref() == Some("PRIMARY"));
                let with = primary.and_then(|d| d.task_definition.as_deref()).map(super::term::revision).unwrap_or("?");
                seen.outcome = Some(Outcome::Replaced(format!("the deployment is gone; the service runs {with}")));
            }
            return seen;
        };
        if self.deployment_id.is_none() {
            self.deployment_id = ours.id.clone();
            seen.lines.push(format!(
                "deployment {} of {} started",
                ours.id.as_deref().unwrap_or("?"),
                super::term::revision(&self.task_definition)
            ));
        }
        let older_running: i32 = deployments.iter().filter(|d| d.id != ours.id).map(|d| d.running_count).sum();
        let progress = format!(
            "{}/{} running, {} pending, {healthy} healthy, {} failed; older deployments: {older_running} running",
            ours.running_count, ours.desired_count, ours.pending_count, ours.failed_tasks
        );
        if progress != self.last_progress {
            seen.lines.push(progress.clone());
            self.last_progress = progress;
        }
        if older_running > 0 {
            self.older_were_running = true;
        } else if self.older_were_running {
            self.older_were_running = false;
            seen.lines.push("older deployments drained".into());
        }
        if ours.rollout_state_reason != self.last_reason {
            if let Some(reason) = &ours.rollout_state_reason {
                seen.lines.push(format!("rollout: {reason}"));
            }
            self.last_reason = ours.rollout_state_reason.clone();
        }
        let primary = ours.status.as_deref() == Some("PRIMARY");
        seen.outcome = match ours.rollout_state {
            Some(ecs::DeploymentRolloutState::Completed) if primary => Some(Outcome::Completed),
            Some(ecs::DeploymentRolloutState::Failed) => {
                Some(Outcome::Failed(ours.rollout_state_reason.clone().unwrap_or_else(|| "no reason given".into())))
            }
            _ if !primary => Some(Outcome::Replaced("another deployment is now the primary one".into())),
            _ => None,
        };
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "arn:aws:ecs:us-east-1:0:task-definition/web:5";
    const OLD: &str = "arn:aws:ecs:us-east-1:0:task-definition/web:4";

    fn deployment(
        id: &str,
        td: &str,
        status: &str,
        running: i32,
        state: ecs::DeploymentRolloutState,
    ) -> ecs::Deployment {
        ecs::Deployment {
            id: Some(id.into()),
            status: Some(status.into()),
            task_definition: Some(td.into()),
            desired_count: 2,
            running_count: running,
            rollout_state: Some(state),
            ..Default::default()
        }
    }

    fn service(deployments: Vec<ecs::Deployment>, events: &[(&str, &str)]) -> ecs::Service {
        ecs::Service {
            deployments: Some(deployments),
            // Newest first.
            events: Some(
                events
                    .iter()
                    .rev()
                    .map(|(id, m)| ecs::ServiceEvent {
                        id: Some(id.to_string()),
                        created_at: None,
                        message: Some(m.to_string()),
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    use ecs::DeploymentRolloutState::{Completed, Failed, InProgress};

    #[test]
    fn a_rollout_is_followed_to_completion() {
        let mut before = service(vec![deployment("d-old", OLD, "PRIMARY", 2, Completed)], &[("e1", "old news")]);
        before.running_count = 2;
        let mut follow = Follow::new(NEW, &before);
        let first = follow.observe(
            &service(
                vec![
                    deployment("d-new", NEW, "PRIMARY", 0, InProgress),
                    deployment("d-old", OLD, "ACTIVE", 2, Completed),
                ],
                &[("e1", "old news"), ("e2", "(service web) has started 2 tasks: (task a) (task b).")],
            ),
            0,
        );
        assert_eq!(
            first.lines,
            [
                "event: (service web) has started 2 tasks: (task a) (task b).",
                "deployment d-new of web:5 started",
                "0/2 running, 0 pending, 0 healthy, 0 failed; older deployments: 2 running",
            ]
        );
        assert_eq!(first.outcome, None);
        assert_eq!(follow.deployment_id(), Some("d-new"));
        let same = service(
            vec![deployment("d-new", NEW, "PRIMARY", 0, InProgress), deployment("d-old", OLD, "ACTIVE", 2, Completed)],
            &[("e1", "old news"), ("e2", "(service web) has started 2 tasks: (task a) (task b).")],
        );
        assert_eq!(follow.observe(&same, 0), Observation::default(), "nothing new, nothing said");
        let done = follow.observe(&service(vec![deployment("d-new", NEW, "PRIMARY", 2, Completed)], &[]), 2);
        assert_eq!(
            done.lines,
            ["2/2 running, 0 pending, 2 healthy, 0 failed; older deployments: 0 running", "older deployments drained",]
        );
        assert_eq!(done.outcome, Some(Outcome::Completed));
    }

    #[test]
    fn the_circuit_breaker_and_a_rollback_end_it_as_failed() {
        let before = service(vec![deployment("d-old", OLD, "PRIMARY", 1, Completed)], &[]);
        let mut follow = Follow::new(NEW, &before);
        follow.observe(&service(vec![deployment("d-new", NEW, "PRIMARY", 0, InProgress)], &[]), 0);
        let mut failed = deployment("d-new", NEW, "ACTIVE", 0, Failed);
        failed.rollout_state_reason = Some("ECS deployment circuit breaker: tasks failed to start.".into());
        let seen = follow.observe(
            &service(
                vec![deployment("d-back", OLD, "PRIMARY", 1, InProgress), failed],
                &[("e3", "(service web) was unable to place a task because no container instance met all of its requirements.")],
            ),
            0,
        );
        assert!(seen.placement_failed);
        assert!(
            seen.lines.contains(&"rollout: ECS deployment circuit breaker: tasks failed to start.".to_string()),
            "{:?}",
            seen.lines
        );
        assert_eq!(
            seen.outcome,
            Some(Outcome::Failed("ECS deployment circuit breaker: tasks failed to start.".into()))
        );
        let gone = follow.observe(&service(vec![deployment("d-back", OLD, "PRIMARY", 1, Completed)], &[]), 0);
        assert_eq!(gone.outcome, Some(Outcome::Replaced("the deployment is gone; the service runs web:4".into())));
    }
}

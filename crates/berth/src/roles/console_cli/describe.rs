//! `berth describe task|service`: a task's timeline (created, pulled, started, stopping, stopped, why, and each
//! container's exit code and reason); a service's deployments, its events oldest first, and, when its latest news
//! is that a task could not be placed, why, instance by instance.

use super::placement;
use super::term::{Style, duration, revision, short, timestamp};
use berth_model::ecs;
use comfy_table::Cell;

/// The task's lifecycle moments that happened, in time order: (time, what).
pub fn timeline(task: &ecs::Task) -> Vec<(f64, &'static str)> {
    let mut moments: Vec<(f64, &'static str)> = [
        (task.created_at, "created"),
        (task.pull_started_at, "image pull started"),
        (task.pull_stopped_at, "image pull finished"),
        (task.connectivity_at, "network connected"),
        (task.started_at, "started (containers running)"),
        (task.stopping_at, "stopping"),
        (task.execution_stopped_at, "containers stopped"),
        (task.stopped_at, "stopped"),
    ]
    .into_iter()
    .filter_map(|(at, what)| at.map(|at| (at, what)))
    .collect();
    moments.sort_by(|a, b| a.0.total_cmp(&b.0));
    moments
}

/// The text `berth describe task` prints. `host` is the instance's host name when known.
pub fn render_task(task: &ecs::Task, host: Option<&str>, style: &Style) -> String {
    let mut out = style.heading(&format!(
        "Task {} ({}, {})",
        short(task.task_arn.as_deref().unwrap_or("?")),
        revision(task.task_definition_arn.as_deref().unwrap_or("?")),
        task.group.as_deref().unwrap_or("no group"),
    ));
    out.push('\n');
    let place = host
        .map(str::to_string)
        .or_else(|| task.container_instance_arn.as_deref().map(|a| short(a).to_string()))
        .unwrap_or_else(|| "-".into());
    out.push_str(&format!(
        "  status {} (desired {}), health {}, on {place}{}\n",
        task.last_status.as_deref().unwrap_or("?"),
        task.desired_status.as_deref().unwrap_or("?"),
        task.health_status.map(|h| h.as_str()).unwrap_or("UNKNOWN"),
        task.launch_type.map(|l| format!(", launch type {}", l.as_str())).unwrap_or_default(),
    ));
    if let Some(by) = &task.started_by {
        out.push_str(&format!("  started by {by}\n"));
    }
    out.push_str("Timeline:\n");
    let moments = timeline(task);
    let start = moments.first().map(|m| m.0).unwrap_or_default();
    for (at, what) in &moments {
        out.push_str(&format!("  {}  +{:<7} {what}\n", timestamp(*at), duration(at - start)));
    }
    if task.stop_code.is_some() || task.stopped_reason.is_some() {
        out.push_str(&format!(
            "  stop code: {}\n  stopped reason: {}\n",
            task.stop_code.map(|c| c.as_str()).unwrap_or("-"),
            task.stopped_reason.as_deref().unwrap_or("-")
        ));
    }
    let containers = task.containers.as_deref().unwrap_or_default();
    if !containers.is_empty() {
        out.push_str("Containers:\n");
        let mut table = style.table(&["NAME", "STATUS", "EXIT CODE", "HEALTH", "REASON", "IMAGE"]);
        for c in containers {
            table.add_row(vec![
                Cell::new(c.name.as_deref().unwrap_or("?")),
                style.status(c.last_status.as_deref().unwrap_or("?")),
                Cell::new(c.exit_code.map(|e| e.to_string()).unwrap_or_else(|| "-".into())),
                style.status(c.health_status.map(|h| h.as_str()).unwrap_or("UNKNOWN")),
                Cell::new(c.reason.as_deref().unwrap_or("-")),
                Cell::new(c.image.as_deref().unwrap_or("-")),
            ]);
        }
        out.push_str(&format!("{table}\n"));
    }
    out
}

/// Whether the service's latest news (its newest events, down to the last steady state) is a task that could not
/// be placed.
pub fn placement_is_failing(service: &ecs::Service) -> bool {
    // ECS lists events newest first.
    for event in service.events.as_deref().unwrap_or_default() {
        let message = event.message.as_deref().unwrap_or_default();
        if placement::is_placement_failure(message) {
            return true;
        }
        if message.contains("has reached a steady state") {
            return false;
        }
    }
    false
}

/// The text `berth describe service` prints; `placement` is the explanation to add, if any.
pub fn render_service(service: &ecs::Service, placement: Option<&str>, style: &Style) -> String {
    let mut out = style.heading(&format!(
        "Service {} ({}): {} running, {} desired, {} pending",
        service.service_name.as_deref().unwrap_or("?"),
        service.status.as_deref().unwrap_or("?"),
        service.running_count,
        service.desired_count,
        service.pending_count,
    ));
    out.push('\n');
    out.push_str(&format!(
        "  task definition {}{}\n",
        revision(service.task_definition.as_deref().unwrap_or("-")),
        service.launch_type.map(|l| format!(", launch type {}", l.as_str())).unwrap_or_default(),
    ));
    let deployments = service.deployments.as_deref().unwrap_or_default();
    out.push_str("Deployments:\n");
    let mut table = style.table(&[
        "ID",
        "STATUS",
        "TASK DEFINITION",
        "DESIRED",
        "RUNNING",
        "PENDING",
        "FAILED",
        "ROLLOUT",
        "UPDATED",
    ]);
    for d in deployments {
        let rollout = d.rollout_state.map(|r| r.as_str()).unwrap_or("-");
        table.add_row(vec![
            Cell::new(d.id.as_deref().unwrap_or("?")),
            style.status(d.status.as_deref().unwrap_or("?")),
            Cell::new(revision(d.task_definition.as_deref().unwrap_or("-"))),
            Cell::new(d.desired_count),
            Cell::new(d.running_count),
            Cell::new(d.pending_count),
            Cell::new(d.failed_tasks),
            style.status(rollout),
            Cell::new(d.updated_at.map(timestamp).unwrap_or_else(|| "-".into())),
        ]);
    }
    out.push_str(&format!("{table}\n"));
    for d in deployments {
        if let Some(reason) = &d.rollout_state_reason {
            out.push_str(&format!("  {}: {reason}\n", d.id.as_deref().unwrap_or("?")));
        }
    }
    let events = service.events.as_deref().unwrap_or_default();
    out.push_str("Events (oldest first):\n");
    if events.is_empty() {
        out.push_str("  none\n");
    }
    for event in events.iter().rev() {
        out.push_str(&format!(
            "  {}  {}\n",
            event.created_at.map(timestamp).unwrap_or_else(|| "-".into()),
            event.message.as_deref().unwrap_or_default()
        ));
    }
    if let Some(text) = placement {
        out.push_str(text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_tasks_timeline_reads_in_order_with_its_reasons() {
        let task = ecs::Task {
            task_arn: Some("arn:aws:ecs:us-east-1:0:task/default/t1".into()),
            task_definition_arn: Some("arn:aws:ecs:us-east-1:0:task-definition/web:2".into()),
            group: Some("service:web".into()),
            last_status: Some("STOPPED".into()),
            desired_status: Some("STOPPED".into()),
            created_at: Some(1_795_960_800.0),
            pull_started_at: Some(1_795_960_801.0),
            pull_stopped_at: Some(1_795_960_803.0),
            started_at: Some(1_795_960_804.0),
            stopping_at: Some(1_795_960_900.0),
            stopped_at: Some(1_795_960_905.0),
            stop_code: Some(ecs::TaskStopCode::EssentialContainerExited),
            stopped_reason: Some("Essential container in task exited".into()),
            containers: Some(vec![ecs::Container {
                name: Some("app".into()),
                last_status: Some("STOPPED".into()),
                exit_code: Some(3),
                reason: Some("boom".into()),
                image: Some("berth-workload:latest".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let text = render_task(&task, Some("host-1"), &Style::PLAIN);
        let expected_timeline = "Timeline:\n\
            \x20 2026-11-29T14:00:00Z  +0s      created\n\
            \x20 2026-11-29T14:00:01Z  +1s      image pull started\n\
            \x20 2026-11-29T14:00:03Z  +3s      image pull finished\n\
            \x20 2026-11-29T14:00:04Z  +4s      started (containers running)\n\
            \x20 2026-11-29T14:01:40Z  +1m40s   stopping\n\
            \x20 2026-11-29T14:01:45Z  +1m45s   stopped\n\
            \x20 stop code: EssentialContainerExited\n\
            \x20 stopped reason: Essential container in task exited\n";
        assert!(text.contains(expected_timeline), "{text}");
        assert!(
            text.starts_with(
                "Task t1 (web:2, service:web)\n  status STOPPED (desired STOPPED), health UNKNOWN, on host-1\n"
            ),
            "{text}"
        );
        let app = text.lines().find(|l| l.contains("berth-workload")).expect("the container's row");
        let cells: Vec<&str> = app.split_whitespace().collect();
        assert_eq!(cells, ["app", "STOPPED", "3", "UNKNOWN", "boom", "berth-workload:latest"]);
    }

    fn event(at: f64, message: &str) -> ecs::ServiceEvent {
        ecs::ServiceEvent { id: None, created_at: Some(at), message: Some(message.into()) }
    }

    #[test]
    fn a_service_shows_deployments_and_events_oldest_first() {
        let service = ecs::Service {
            service_name: Some("web".into()),
            status: Some("ACTIVE".into()),
            desired_count: 2,
            running_count: 1,
            task_definition: Some("arn:aws:ecs:us-east-1:0:task-definition/web:4".into()),
            deployments: Some(vec![ecs::Deployment {
                id: Some("ecs-svc/1".into()),
                status: Some("PRIMARY".into()),
                task_definition: Some("arn:aws:ecs:us-east-1:0:task-definition/web:4".into()),
                desired_count: 2,
                running_count: 1,
                failed_tasks: 3,
                rollout_state: Some(ecs::DeploymentRolloutState::Failed),
                rollout_state_reason: Some("circuit breaker: 3 tasks failed".into()),
                ..Default::default()
            }]),
            // Newest first, as ECS lists them.
            events: Some(vec![
                event(
                    1_795_960_900.0,
                    "(service web) was unable to place a task because no container instance met all of its requirements.",
                ),
                event(1_795_960_800.0, "(service web) has reached a steady state."),
            ]),
            ..Default::default()
        };
        assert!(placement_is_failing(&service));
        let text = render_service(&service, Some("Why a task ...\n"), &Style::PLAIN);
        let steady = text.find("has reached a steady state").expect("the older event");
        let unable = text.find("was unable to place a task").expect("the newer event");
        assert!(steady < unable, "oldest first: {text}");
        let row = text.lines().find(|l| l.trim_start().starts_with("ecs-svc/1")).expect("the deployment's row");
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[..8], ["ecs-svc/1", "PRIMARY", "web:4", "2", "1", "0", "3", "FAILED"]);
        assert!(text.contains("  ecs-svc/1: circuit breaker: 3 tasks failed\n"));
        assert!(text.ends_with("Why a task ...\n"));
        let mut steady_now = service.clone();
        steady_now.events.as_mut().expect("events").reverse();
        assert!(!placement_is_failing(&steady_now), "a steady state after the failure settles it");
    }
}

//! `/ui/clusters/<cluster>`: its container instances (with free CPU and memory), services and tasks.

use super::{SignedIn, badge, table};
use crate::Console;
use crate::client::ecs;
use crate::html::{self, Section, enc, esc, opt, short_arn};
use axum::extract::{Path, State};
use axum::response::Response;
use berth_model::ecs::{ContainerInstance, Resource, Service, Task};
use http::StatusCode;

/// `GET /ui/clusters/<cluster>`.
pub(crate) async fn show(State(console): State<Console>, signed_in: SignedIn, Path(cluster): Path<String>) -> Response {
    let caller = signed_in.caller();
    let api = &console.api;
    let title = format!("Cluster {cluster}");
    let found = match ecs::cluster(api, caller, &cluster).await {
        Ok(found) => found,
        Err(e) => return signed_in.page(e.status(), &title, Section::Clusters, false, &html::error_box(&e)),
    };
    let Some(found) = found else {
        let body = format!("<div class=\"error\" role=\"alert\">There is no cluster {}.</div>", esc(&cluster));
        return signed_in.page(StatusCode::NOT_FOUND, &title, Section::Clusters, false, &body);
    };
    let mut body = format!(
        "<p class=\"summary\">{} \u{b7} {} \u{b7} {} \u{b7} {} running, {} pending tasks</p>",
        badge(found.status.as_deref().unwrap_or("?")),
        count(found.registered_container_instances_count, "instance"),
        count(found.active_services_count, "service"),
        found.running_tasks_count,
        found.pending_tasks_count
    );
    body.push_str("<h2>Container instances</h2>");
    match ecs::instances(api, caller, &cluster).await {
        Ok(instances) => body.push_str(&instances_table(&instances)),
        Err(e) => body.push_str(&html::error_box(&e)),
    }
    body.push_str("<h2>Services</h2>");
    match ecs::services(api, caller, &cluster).await {
        Ok(services) => body.push_str(&services_table(&cluster, &services)),
        Err(e) => body.push_str(&html::error_box(&e)),
    }
    body.push_str("<h2>Tasks</h2>");
    match ecs::tasks(api, caller, &cluster, None).await {
        Ok(tasks) => body.push_str(&tasks_table(&cluster, &tasks, "tasks")),
        Err(e) => body.push_str(&html::error_box(&e)),
    }
    signed_in.page(StatusCode::OK, &title, Section::Clusters, true, &body)
}

/// `1 instance`, `2 instances`.
fn count(n: i32, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// A resource's integer value by name.
fn resource(resources: Option<&Vec<Resource>>, name: &str) -> Option<i64> {
    let r = resources?.iter().find(|r| r.name.as_deref() == Some(name))?;
    Some(if r.integer_value != 0 { i64::from(r.integer_value) } else { r.long_value })
}

/// `free / registered` with a meter.
fn free_of(instance: &ContainerInstance, name: &str, unit: &str) -> String {
    let registered = resource(instance.registered_resources.as_ref(), name);
    let remaining = resource(instance.remaining_resources.as_ref(), name);
    match (remaining, registered) {
        (Some(free), Some(total)) if total > 0 => {
            format!("<meter min=\"0\" max=\"{total}\" value=\"{free}\"></meter> {free} of {total} {unit} free")
        }
        _ => "\u{2014}".to_string(),
    }
}

fn instances_table(instances: &[ContainerInstance]) -> String {
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            vec![
                opt(i.ec2_instance_id.as_deref()),
                badge(i.status.as_deref().unwrap_or("?")),
                if i.agent_connected { badge("connected") } else { badge("disconnected") },
                opt(i.capacity_provider_name.as_deref()),
                format!("{} running, {} pending", i.running_tasks_count, i.pending_tasks_count),
                free_of(i, "CPU", "units"),
                free_of(i, "MEMORY", "MiB"),
            ]
        })
        .collect();
    table(
        "instances",
        &["Instance", "Status", "Agent", "Capacity provider", "Tasks", "CPU", "Memory"],
        &rows,
        "No container instance is registered in this cluster.",
    )
}

fn services_table(cluster: &str, services: &[Service]) -> String {
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            let name = s.service_name.as_deref().unwrap_or_default();
            let rollout = s
                .deployments
                .as_ref()
                .and_then(|d| d.iter().find(|d| d.status.as_deref() == Some("PRIMARY")))
                .and_then(|d| d.rollout_state.as_ref())
                .map(|r| r.to_string());
            vec![
                format!("<a href=\"/ui/clusters/{}/services/{}\">{}</a>", enc(cluster), enc(name), esc(name)),
                badge(s.status.as_deref().unwrap_or("?")),
                format!("{}/{}", s.running_count, s.desired_count),
                s.pending_count.to_string(),
                opt(s.task_definition.as_deref().map(html::family_revision)),
                opt(rollout.as_deref()),
            ]
        })
        .collect();
    table(
        "services",
        &["Service", "Status", "Running/desired", "Pending", "Task definition", "Rollout"],
        &rows,
        "There are no services in this cluster.",
    )
}

/// A table of tasks linking to their pages.
pub(crate) fn tasks_table(cluster: &str, tasks: &[Task], id: &str) -> String {
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let task_id = short_arn(t.task_arn.as_deref().unwrap_or_default());
            vec![
                format!("<a href=\"/ui/clusters/{}/tasks/{}\">{}</a>", enc(cluster), enc(task_id), esc(task_id)),
                badge(t.last_status.as_deref().unwrap_or("?")),
                opt(t.desired_status.as_deref()),
                opt(t.task_definition_arn.as_deref().map(html::family_revision)),
                opt(t.group.as_deref()),
                html::time(t.started_at.or(t.created_at)),
                opt(t.stopped_reason.as_deref()),
            ]
        })
        .collect();
    table(
        id,
        &["Task", "Last status", "Desired", "Task definition", "Group", "Started", "Stopped reason"],
        &rows,
        "No tasks.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "instance"), "1 instance");
        assert_eq!(count(0, "service"), "0 services");
        assert_eq!(count(3, "service"), "3 services");
    }

    #[test]
    fn free_resources_show_as_meters_of_the_registered_amount() {
        let resource =
            |name: &str, value: i32| Resource { name: Some(name.into()), integer_value: value, ..Resource::default() };
        let instance = ContainerInstance {
            registered_resources: Some(vec![resource("CPU", 2048), resource("MEMORY", 4000)]),
            remaining_resources: Some(vec![resource("CPU", 1024), resource("MEMORY", 3000)]),
            ..ContainerInstance::default()
        };
        assert_eq!(
            free_of(&instance, "CPU", "units"),
            "<meter min=\"0\" max=\"2048\" value=\"1024\"></meter> 1024 of 2048 units free"
        );
        assert_eq!(free_of(&ContainerInstance::default(), "CPU", "units"), "\u{2014}");
    }
}

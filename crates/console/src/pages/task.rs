//! `/ui/clusters/<cluster>/tasks/<task>`: the task's timeline (each lifecycle time ECS records, the stop code and
//! reason), its containers, and the tail of each container's log when it ships with `awslogs` (CloudWatch Logs'
//! GetLogEvents on the stream the agent writes: `prefix/container/task-id`, or the stream it names).

use super::{SignedIn, badge, table};
use crate::Console;
use crate::client::{aws, ecs};
use crate::html::{self, Section, enc, esc, opt, short_arn};
use axum::extract::{Path, State};
use axum::response::Response;
use berth_model::awslogs::AwsLogsOptions;
use berth_model::ecs::{Container, Task, TaskDefinition};
use http::StatusCode;

/// How many log events each container's tail shows.
const LOG_TAIL_EVENTS: u32 = 50;

/// `GET /ui/clusters/<cluster>/tasks/<task>`.
pub(crate) async fn show(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path((cluster, task_id)): Path<(String, String)>,
) -> Response {
    let caller = signed_in.caller();
    let api = &console.api;
    let title = format!("Task {task_id}");
    let found = match ecs::task(api, caller, &cluster, &task_id).await {
        Ok(found) => found,
        Err(e) => return signed_in.page(e.status(), &title, Section::Clusters, false, &html::error_box(&e)),
    };
    let Some(task) = found else {
        let body = format!(
            "<div class=\"error\" role=\"alert\">There is no task {} in cluster {}.</div>",
            esc(&task_id),
            esc(&cluster)
        );
        return signed_in.page(StatusCode::NOT_FOUND, &title, Section::Clusters, false, &body);
    };
    let mut body = format!(
        "<p class=\"crumbs\"><a href=\"/ui/clusters/{}\">\u{2190} cluster {}</a>{}</p>",
        enc(&cluster),
        esc(&cluster),
        service_link(&cluster, task.group.as_deref()),
    );
    body.push_str(&format!(
        "<dl class=\"facts\"><dt>Last status</dt><dd id=\"last-status\">{}</dd><dt>Desired status</dt><dd>{}</dd>\
         <dt>Task definition</dt><dd>{}</dd><dt>Launch type</dt><dd>{}</dd><dt>CPU / memory</dt><dd>{} / {}</dd>\
         <dt>Container instance</dt><dd>{}</dd><dt>Health</dt><dd>{}</dd></dl>",
        badge(task.last_status.as_deref().unwrap_or("?")),
        opt(task.desired_status.as_deref()),
        opt(task.task_definition_arn.as_deref().map(html::family_revision)),
        opt(task.launch_type.as_ref().map(|l| l.to_string()).as_deref()),
        opt(task.cpu.as_deref()),
        opt(task.memory.as_deref()),
        opt(task.container_instance_arn.as_deref().map(short_arn)),
        opt(task.health_status.as_ref().map(|h| h.to_string()).as_deref()),
    ));
    body.push_str("<h2>Timeline</h2>");
    body.push_str(&timeline(&task));
    body.push_str("<h2>Containers</h2>");
    body.push_str(&containers(task.containers.as_deref().unwrap_or_default()));
    body.push_str("<h2>Logs</h2>");
    body.push_str(&logs(&console, &signed_in, &task).await);
    let refresh = task.last_status.as_deref() != Some("STOPPED");
    signed_in.page(StatusCode::OK, &title, Section::Clusters, refresh, &body)
}

/// A link to the task's service when its group is `service:<name>`.
fn service_link(cluster: &str, group: Option<&str>) -> String {
    match group.and_then(|g| g.strip_prefix("service:")) {
        Some(service) => format!(
            " \u{b7} <a href=\"/ui/clusters/{}/services/{}\">service {}</a>",
            enc(cluster),
            enc(service),
            esc(service)
        ),
        None => String::new(),
    }
}

/// The task's recorded lifecycle, in time order, with its stop code and reason.
fn timeline(task: &Task) -> String {
    let mut steps: Vec<(f64, &str)> = [
        (task.created_at, "Created (PROVISIONING)"),
        (task.connectivity_at, "Connected"),
        (task.pull_started_at, "Image pull started"),
        (task.pull_stopped_at, "Image pull finished"),
        (task.started_at, "Started (RUNNING)"),
        (task.stopping_at, "Stopping"),
        (task.execution_stopped_at, "Containers stopped"),
        (task.stopped_at, "Stopped (STOPPED)"),
    ]
    .into_iter()
    .filter_map(|(at, label)| Some((at?, label)))
    .collect();
    steps.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = String::from("<ol class=\"timeline\" id=\"timeline\">");
    for (at, label) in &steps {
        out.push_str(&format!("<li>{} <span>{}</span></li>", html::time(Some(*at)), esc(label)));
    }
    out.push_str("</ol>");
    if task.stop_code.is_some() || task.stopped_reason.is_some() {
        out.push_str(&format!(
            "<p class=\"stopped\" id=\"stopped-reason\">Stop code {}: {}</p>",
            opt(task.stop_code.as_ref().map(|c| c.to_string()).as_deref()),
            opt(task.stopped_reason.as_deref())
        ));
    }
    out
}

fn containers(containers: &[Container]) -> String {
    let rows: Vec<Vec<String>> = containers
        .iter()
        .map(|c| {
            let ports: Vec<String> = c
                .network_bindings
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|b| {
                    format!(
                        "{}:{}\u{2192}{}",
                        b.bind_ip.as_deref().unwrap_or(""),
                        b.host_port.map(|p| p.to_string()).unwrap_or_default(),
                        b.container_port.map(|p| p.to_string()).unwrap_or_default()
                    )
                })
                .collect();
            vec![
                opt(c.name.as_deref()),
                opt(c.image.as_deref()),
                badge(c.last_status.as_deref().unwrap_or("?")),
                opt(c.health_status.as_ref().map(|h| h.to_string()).as_deref()),
                opt(c.exit_code.map(|e| e.to_string()).as_deref()),
                opt(Some(ports.join(", ").as_str())),
                opt(c.reason.as_deref()),
            ]
        })
        .collect();
    table(
        "containers",
        &["Container", "Image", "Status", "Health", "Exit code", "Ports", "Reason"],
        &rows,
        "No containers.",
    )
}

/// Each awslogs container's log tail.
async fn logs(console: &Console, signed_in: &SignedIn, task: &Task) -> String {
    let Some(definition_arn) = task.task_definition_arn.as_deref() else { return String::new() };
    let definition = match ecs::task_definition(&console.api, signed_in.caller(), definition_arn).await {
        Ok(definition) => definition,
        Err(e) => return html::error_box(&e),
    };
    let task_id = short_arn(task.task_arn.as_deref().unwrap_or_default());
    let streams = log_streams(&definition, task, task_id);
    if streams.is_empty() {
        return "<p class=\"empty\" id=\"logs\">No container of this task ships its log with awslogs.</p>".into();
    }
    let mut out = String::from("<div id=\"logs\">");
    for (container, group, stream) in streams {
        out.push_str(&format!("<h3>{} <small>{} \u{203a} {}</small></h3>", esc(&container), esc(&group), esc(&stream)));
        match aws::log_tail(&console.api, signed_in.caller(), &group, &stream, LOG_TAIL_EVENTS).await {
            Ok(events) if events.is_empty() => out.push_str("<p class=\"empty\">No log events yet.</p>"),
            Ok(events) => {
                out.push_str("<pre class=\"log\">");
                for e in events {
                    let at = jiff::Timestamp::from_millisecond(e.timestamp as i64)
                        .map(|t| t.strftime("%H:%M:%S").to_string())
                        .unwrap_or_default();
                    out.push_str(&format!("<span class=\"at\">{}</span> {}\n", esc(&at), esc(&e.message)));
                }
                out.push_str("</pre>");
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                out.push_str("<p class=\"empty\">The log stream does not exist yet.</p>")
            }
            Err(e) => out.push_str(&html::error_box(&e)),
        }
    }
    out.push_str("</div>");
    out
}

/// `(container, group, stream)` of every container that uses awslogs.
fn log_streams(definition: &TaskDefinition, task: &Task, task_id: &str) -> Vec<(String, String, String)> {
    let runtime_id = |name: &str| {
        task.containers
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|c| c.name.as_deref() == Some(name))
            .and_then(|c| c.runtime_id.clone())
            .unwrap_or_default()
    };
    definition
        .container_definitions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            let config = c.log_configuration.as_ref()?;
            if config.log_driver.as_str() != "awslogs" {
                return None;
            }
            let options = config.options.clone().unwrap_or_default();
            let parsed = AwsLogsOptions::parse(&options, None).ok()?;
            let name = c.name.clone().unwrap_or_default();
            let stream = parsed.stream_name(&name, task_id, &runtime_id(&name));
            Some((name, parsed.group, stream))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_is_in_time_order_with_the_stop_reason() {
        let task = Task {
            created_at: Some(10.0),
            started_at: Some(30.0),
            pull_started_at: Some(20.0),
            stopped_at: Some(50.0),
            stopped_reason: Some("Essential container <app> exited".into()),
            ..Task::default()
        };
        let html = timeline(&task);
        let order: Vec<usize> = ["Created", "Image pull started", "Started", "Stopped (STOPPED)"]
            .iter()
            .map(|label| html.find(label).expect(label))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{html}");
        assert!(html.contains("Essential container &lt;app&gt; exited"));
        assert!(!html.contains("Stopping"));
    }

    #[test]
    fn a_group_names_the_service_to_link_to() {
        assert!(service_link("c", Some("service:web")).contains("/ui/clusters/c/services/web"));
        assert_eq!(service_link("c", Some("family:x")), "");
        assert_eq!(service_link("c", None), "");
    }
}

//! `/ui/clusters/<cluster>/services/<service>`: running and desired counts, deployments with their progress, CPU
//! and memory charts, the service's tasks and events; the Scale form and the Force new deployment button, each an
//! UpdateService call as the signed-in principal.

use super::{SignedIn, badge, table};
use crate::Console;
use crate::chart::{Chart, percent_chart};
use crate::client::{ApiError, aws, ecs};
use crate::html::{self, Section, enc, esc, opt, short_arn};
use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use berth_model::ecs::{Deployment, Service};
use http::StatusCode;
use serde_json::json;
use std::collections::HashMap;

/// The time range of the charts.
const CHART_SECONDS: f64 = 3600.0;
/// The charts' resolution.
const CHART_PERIOD: u32 = 60;
/// The most events shown.
const MAX_EVENTS: usize = 25;
/// The largest desired count the Scale form sends (ECS refuses more anyway; the form says so first).
const MAX_DESIRED: u32 = 10_000;

/// What happened on the page's last action.
enum Outcome {
    /// Nothing.
    None,
    /// A result to show.
    Notice(String),
    /// A refusal to show, with its status.
    Error(StatusCode, String),
}

/// `GET`: the page, with a notice after a successful action (`?done=scaled|redeployed`).
pub(crate) async fn show(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path((cluster, service)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let outcome = match query.get("done").map(String::as_str) {
        Some("scaled") => Outcome::Notice("The desired count was changed.".into()),
        Some("redeployed") => Outcome::Notice("A new deployment was started.".into()),
        _ => Outcome::None,
    };
    render(&console, &signed_in, &cluster, &service, outcome).await
}

/// `POST .../scale`: UpdateService with the form's `desired_count`.
pub(crate) async fn scale(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path((cluster, service)): Path<(String, String)>,
    request: Request,
) -> Response {
    let form = match signed_in.checked_form(request).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let count = match form.get("desired_count").map(|v| v.trim().parse::<u32>()) {
        Some(Ok(n)) if n <= MAX_DESIRED => n,
        _ => {
            let message = format!("The desired count must be a whole number from 0 to {MAX_DESIRED}.");
            return render(&console, &signed_in, &cluster, &service, Outcome::Error(StatusCode::BAD_REQUEST, message))
                .await;
        }
    };
    let input = json!({ "desiredCount": count });
    act(&console, &signed_in, &cluster, &service, input, "scaled").await
}

/// `POST .../redeploy`: UpdateService with `forceNewDeployment`.
pub(crate) async fn redeploy(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path((cluster, service)): Path<(String, String)>,
    request: Request,
) -> Response {
    if let Err(refused) = signed_in.checked_form(request).await {
        return refused;
    }
    let input = json!({ "forceNewDeployment": true });
    act(&console, &signed_in, &cluster, &service, input, "redeployed").await
}

/// Makes the UpdateService call; on success back to the page (303, so a reload does not repeat it), else the page
/// with the API's refusal.
async fn act(
    console: &Console,
    signed_in: &SignedIn,
    cluster: &str,
    service: &str,
    input: serde_json::Value,
    done: &str,
) -> Response {
    match ecs::update_service(&console.api, signed_in.caller(), cluster, service, input).await {
        Ok(_) => html::redirect(&format!("{}?done={done}", page_path(cluster, service))),
        Err(e) => {
            let status = refusal_status(&e);
            render(console, signed_in, cluster, service, Outcome::Error(status, e.to_string())).await
        }
    }
}

/// The status a refused action answers with: 403 for AccessDenied, else the API's.
fn refusal_status(error: &ApiError) -> StatusCode {
    match error.code() {
        Some(code) if code.starts_with("AccessDenied") => StatusCode::FORBIDDEN,
        _ => error.status(),
    }
}

/// The page's path.
fn page_path(cluster: &str, service: &str) -> String {
    format!("/ui/clusters/{}/services/{}", enc(cluster), enc(service))
}

async fn render(console: &Console, signed_in: &SignedIn, cluster: &str, name: &str, outcome: Outcome) -> Response {
    let caller = signed_in.caller();
    let api = &console.api;
    let title = format!("Service {name}");
    let found = match ecs::service(api, caller, cluster, name).await {
        Ok(found) => found,
        Err(e) => return signed_in.page(e.status(), &title, Section::Clusters, false, &html::error_box(&e)),
    };
    let Some(service) = found else {
        let body = format!(
            "<div class=\"error\" role=\"alert\">There is no service {} in cluster {}.</div>",
            esc(name),
            esc(cluster)
        );
        return signed_in.page(StatusCode::NOT_FOUND, &title, Section::Clusters, false, &body);
    };
    let (status, mut body) = match outcome {
        Outcome::None => (StatusCode::OK, String::new()),
        Outcome::Notice(text) => (StatusCode::OK, html::notice_box(&text)),
        Outcome::Error(status, text) => (
            status,
            format!("<div class=\"error\" role=\"alert\" id=\"action-error\"><strong>{}</strong></div>", esc(&text)),
        ),
    };
    body.push_str(&format!(
        "<p class=\"crumbs\"><a href=\"/ui/clusters/{}\">\u{2190} cluster {}</a></p>",
        enc(cluster),
        esc(cluster)
    ));
    body.push_str(&summary(&service));
    body.push_str(&actions(signed_in, cluster, name, &service));
    body.push_str("<h2>Deployments</h2>");
    body.push_str(&deployments(service.deployments.as_deref().unwrap_or_default()));
    body.push_str("<h2>Utilization</h2><div class=\"charts\">");
    let now = console.clock.now();
    let range = (now - CHART_SECONDS, now, CHART_PERIOD);
    let dimensions =
        [("ClusterName", short_arn(service.cluster_arn.as_deref().unwrap_or(cluster))), ("ServiceName", name)];
    for (id, metric, label) in [
        ("cpu-chart", "CPUUtilization", "CPU utilization (average, % of reserved)"),
        ("memory-chart", "MemoryUtilization", "Memory utilization (average, % of reserved)"),
    ] {
        match aws::metric_averages(api, caller, "AWS/ECS", metric, &dimensions, range).await {
            Ok(points) => body.push_str(&percent_chart(&Chart {
                id,
                title: label,
                points: &points,
                start: range.0,
                end: range.1,
            })),
            Err(e) => body.push_str(&html::error_box(&e)),
        }
    }
    body.push_str("</div><h2>Tasks</h2>");
    match ecs::tasks(api, caller, cluster, Some(name)).await {
        Ok(tasks) => body.push_str(&super::cluster::tasks_table(cluster, &tasks, "service-tasks")),
        Err(e) => body.push_str(&html::error_box(&e)),
    }
    body.push_str("<h2>Events</h2>");
    body.push_str(&events(&service));
    signed_in.page(status, &title, Section::Clusters, true, &body)
}

fn summary(service: &Service) -> String {
    format!(
        "<dl class=\"facts\"><dt>Status</dt><dd>{}</dd><dt>Running / desired</dt><dd id=\"counts\">{} / {}</dd>\
         <dt>Pending</dt><dd>{}</dd><dt>Task definition</dt><dd>{}</dd><dt>Launch type</dt><dd>{}</dd>\
         <dt>Created</dt><dd>{}</dd></dl>",
        badge(service.status.as_deref().unwrap_or("?")),
        service.running_count,
        service.desired_count,
        service.pending_count,
        opt(service.task_definition.as_deref().map(html::family_revision)),
        opt(service.launch_type.as_ref().map(|l| l.to_string()).as_deref()),
        html::time(service.created_at),
    )
}

fn actions(signed_in: &SignedIn, cluster: &str, name: &str, service: &Service) -> String {
    let path = page_path(cluster, name);
    format!(
        "<div class=\"actions\"><form method=\"post\" action=\"{path}/scale\" class=\"inline\" id=\"scale-form\">{csrf}\
         <label>Desired count <input type=\"number\" name=\"desired_count\" id=\"desired-count\" min=\"0\" \
         max=\"{MAX_DESIRED}\" value=\"{desired}\" required></label><button type=\"submit\" id=\"scale\">Scale</button></form>\
         <form method=\"post\" action=\"{path}/redeploy\" class=\"inline\" id=\"redeploy-form\">{csrf}\
         <button type=\"submit\" id=\"redeploy\">Force new deployment</button></form></div>",
        path = esc(&path),
        csrf = signed_in.csrf_field(),
        desired = service.desired_count,
    )
}

fn deployments(deployments: &[Deployment]) -> String {
    let rows: Vec<Vec<String>> = deployments
        .iter()
        .map(|d| {
            let desired = d.desired_count.max(0);
            let progress = format!(
                "<progress max=\"{}\" value=\"{}\"></progress> {} of {} running",
                desired.max(1),
                d.running_count.clamp(0, desired.max(1)),
                d.running_count,
                desired
            );
            vec![
                opt(d.id.as_deref()),
                badge(d.status.as_deref().unwrap_or("?")),
                opt(d.rollout_state.as_ref().map(|r| r.to_string()).as_deref()),
                opt(d.task_definition.as_deref().map(html::family_revision)),
                progress,
                format!("{} pending, {} failed", d.pending_count, d.failed_tasks),
                html::time(d.updated_at.or(d.created_at)),
                opt(d.rollout_state_reason.as_deref()),
            ]
        })
        .collect();
    table(
        "deployments",
        &["Deployment", "Status", "Rollout", "Task definition", "Progress", "Other tasks", "Updated", "Reason"],
        &rows,
        "No deployments.",
    )
}

fn events(service: &Service) -> String {
    let events = service.events.as_deref().unwrap_or_default();
    if events.is_empty() {
        return "<p class=\"empty\" id=\"events\">No events yet.</p>".into();
    }
    let mut out = String::from("<ul class=\"events\" id=\"events\">");
    for e in events.iter().take(MAX_EVENTS) {
        out.push_str(&format!("<li>{} {}</li>", html::time(e.created_at), opt(e.message.as_deref())));
    }
    out.push_str("</ul>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_show_progress_against_their_desired_count() {
        let d = Deployment {
            id: Some("ecs-svc/1".into()),
            status: Some("PRIMARY".into()),
            desired_count: 4,
            running_count: 3,
            pending_count: 1,
            ..Deployment::default()
        };
        let t = deployments(&[d]);
        assert!(t.contains("<progress max=\"4\" value=\"3\"></progress> 3 of 4 running"), "{t}");
        let zero = Deployment { desired_count: 0, running_count: 2, ..Deployment::default() };
        assert!(deployments(&[zero]).contains("<progress max=\"1\" value=\"1\"></progress> 2 of 0 running"));
    }

    #[test]
    fn access_denied_is_a_403() {
        let e = ApiError::Service { status: 400, code: "AccessDeniedException".into(), message: "m".into() };
        assert_eq!(refusal_status(&e), StatusCode::FORBIDDEN);
        let e = ApiError::Service { status: 400, code: "InvalidParameterException".into(), message: "m".into() };
        assert_eq!(refusal_status(&e), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn events_are_escaped_and_bounded() {
        let event = berth_model::ecs::ServiceEvent { message: Some("<b>".into()), ..Default::default() };
        let service = Service { events: Some(vec![event; 40]), ..Service::default() };
        let html = events(&service);
        assert_eq!(html.matches("<li>").count(), MAX_EVENTS);
        assert!(html.contains("&lt;b&gt;"));
    }
}

//! `/ui/clusters`: every cluster with its counts.

use super::{SignedIn, badge, table};
use crate::Console;
use crate::client::ecs;
use crate::html::{Section, enc, esc, opt};
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;

/// `GET /ui/clusters`.
pub(crate) async fn list(State(console): State<Console>, signed_in: SignedIn) -> Response {
    let (status, body) = match ecs::clusters(&console.api, signed_in.caller()).await {
        Ok(clusters) => {
            let rows: Vec<Vec<String>> = clusters
                .iter()
                .map(|c| {
                    let name = c.cluster_name.as_deref().unwrap_or_default();
                    vec![
                        format!("<a href=\"/ui/clusters/{}\">{}</a>", enc(name), esc(name)),
                        badge(c.status.as_deref().unwrap_or("?")),
                        c.registered_container_instances_count.to_string(),
                        c.active_services_count.to_string(),
                        c.running_tasks_count.to_string(),
                        c.pending_tasks_count.to_string(),
                        opt(c.capacity_providers.as_ref().map(|p| p.join(", ")).as_deref()),
                    ]
                })
                .collect();
            let headers =
                ["Cluster", "Status", "Instances", "Services", "Running tasks", "Pending tasks", "Capacity providers"];
            (StatusCode::OK, table("clusters", &headers, &rows, "There are no clusters yet."))
        }
        Err(e) => (e.status(), crate::html::error_box(&e)),
    };
    signed_in.page(status, "Clusters", Section::Clusters, true, &body)
}

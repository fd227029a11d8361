//! `berth status`: every cluster with its container instances (free CPU and memory of what they registered,
//! tasks, agent) and its services (running/desired/pending, the primary deployment's rollout state).

use super::api::Ecs;
use super::term::{Style, short};
use anyhow::Result;
use berth_model::ecs;
use comfy_table::Cell;
use serde::Serialize;

/// One cluster as `berth status` shows it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The cluster.
    pub cluster: ecs::Cluster,
    /// Its container instances.
    pub container_instances: Vec<ecs::ContainerInstance>,
    /// Its services.
    pub services: Vec<ecs::Service>,
}

/// Reads the clusters (`only` one, or all).
pub async fn fetch(api: &Ecs, only: Option<&str>) -> Result<Vec<ClusterStatus>> {
    let mut out = Vec::new();
    for cluster in api.clusters(only).await? {
        let name = cluster.cluster_name.clone().unwrap_or_default();
        let container_instances = api.instances(&name).await?;
        let mut services = api.services(&name).await?;
        services.sort_by(|a, b| a.service_name.cmp(&b.service_name));
        out.push(ClusterStatus { cluster, container_instances, services });
    }
    Ok(out)
}

/// A resource's value in a container instance's list (`CPU`, `MEMORY`).
pub fn resource(list: &Option<Vec<ecs::Resource>>, name: &str) -> Option<i64> {
    let found = list.as_deref()?.iter().find(|r| r.name.as_deref() == Some(name))?;
    Some(if found.integer_value != 0 { found.integer_value as i64 } else { found.long_value })
}

/// `free/total` of one resource.
fn free_of(instance: &ecs::ContainerInstance, name: &str) -> String {
    match (resource(&instance.remaining_resources, name), resource(&instance.registered_resources, name)) {
        (Some(free), Some(total)) => format!("{free}/{total}"),
        _ => "-".into(),
    }
}

/// The text `berth status` prints.
pub fn render(clusters: &[ClusterStatus], style: &Style) -> String {
    let mut out = String::new();
    if clusters.is_empty() {
        return "No clusters.\n".into();
    }
    for (i, c) in clusters.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let cl = &c.cluster;
        out.push_str(&style.heading(&format!(
            "Cluster {} ({}): {} instances, {} services, {} running / {} pending tasks",
            cl.cluster_name.as_deref().unwrap_or("?"),
            cl.status.as_deref().unwrap_or("?"),
            cl.registered_container_instances_count,
            cl.active_services_count,
            cl.running_tasks_count,
            cl.pending_tasks_count,
        )));
        out.push('\n');
        if c.container_instances.is_empty() {
            out.push_str("  no container instances\n");
        } else {
            let mut table = style.table(&["INSTANCE", "HOST", "STATUS", "AGENT", "CPU FREE", "MEMORY FREE", "TASKS"]);
            for inst in &c.container_instances {
                table.add_row(vec![
                    Cell::new(short(inst.container_instance_arn.as_deref().unwrap_or("?"))),
                    Cell::new(inst.ec2_instance_id.as_deref().unwrap_or("-")),
                    style.status(inst.status.as_deref().unwrap_or("?")),
                    style.status(if inst.agent_connected { "connected" } else { "disconnected" }),
                    Cell::new(free_of(inst, "CPU")),
                    Cell::new(free_of(inst, "MEMORY")),
                    Cell::new(format!("{} running, {} pending", inst.running_tasks_count, inst.pending_tasks_count)),
                ]);
            }
            out.push_str(&table.to_string());
            out.push('\n');
        }
        if c.services.is_empty() {
            out.push_str("  no services\n");
        } else {
            let mut table =
                style.table(&["SERVICE", "STATUS", "RUNNING", "DESIRED", "PENDING", "TASK DEFINITION", "ROLLOUT"]);
            for s in &c.services {
                let primary =
                    s.deployments.as_deref().and_then(|d| d.iter().find(|d| d.status.as_deref() == Some("PRIMARY")));
                let rollout = primary.and_then(|d| d.rollout_state).map(|r| r.as_str()).unwrap_or("-");
                let others = s.deployments.as_deref().map(|d| d.len().saturating_sub(1)).unwrap_or(0);
                let rollout = if others > 0 { format!("{rollout} (+{others} older)") } else { rollout.to_string() };
                table.add_row(vec![
                    Cell::new(s.service_name.as_deref().unwrap_or("?")),
                    style.status(s.status.as_deref().unwrap_or("?")),
                    Cell::new(s.running_count),
                    Cell::new(s.desired_count),
                    Cell::new(s.pending_count),
                    Cell::new(short(s.task_definition.as_deref().unwrap_or("-"))),
                    style.status(&rollout),
                ]);
            }
            out.push_str(&table.to_string());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(name: &str, value: i32) -> ecs::Resource {
        ecs::Resource { name: Some(name.into()), integer_value: value, ..Default::default() }
    }

    pub(crate) fn sample() -> ClusterStatus {
        let instance = ecs::ContainerInstance {
            container_instance_arn: Some("arn:aws:ecs:us-east-1:0:container-instance/default/abc123".into()),
            ec2_instance_id: Some("host-1".into()),
            status: Some("ACTIVE".into()),
            agent_connected: true,
            running_tasks_count: 2,
            registered_resources: Some(vec![res("CPU", 2048), res("MEMORY", 3900)]),
            remaining_resources: Some(vec![res("CPU", 1536), res("MEMORY", 3772)]),
            ..Default::default()
        };
        let service = ecs::Service {
            service_name: Some("web".into()),
            status: Some("ACTIVE".into()),
            desired_count: 3,
            running_count: 2,
            pending_count: 1,
            task_definition: Some("arn:aws:ecs:us-east-1:0:task-definition/web:7".into()),
            deployments: Some(vec![
                ecs::Deployment {
                    status: Some("PRIMARY".into()),
                    rollout_state: Some(ecs::DeploymentRolloutState::InProgress),
                    ..Default::default()
                },
                ecs::Deployment { status: Some("ACTIVE".into()), ..Default::default() },
            ]),
            ..Default::default()
        };
        ClusterStatus {
            cluster: ecs::Cluster {
                cluster_name: Some("default".into()),
                status: Some("ACTIVE".into()),
                registered_container_instances_count: 1,
                active_services_count: 1,
                running_tasks_count: 2,
                pending_tasks_count: 1,
                ..Default::default()
            },
            container_instances: vec![instance],
            services: vec![service],
        }
    }

    #[test]
    fn clusters_instances_and_services_are_tabled() {
        let text = render(&[sample()], &Style::PLAIN);
        assert!(
            text.contains("Cluster default (ACTIVE): 1 instances, 1 services, 2 running / 1 pending tasks"),
            "{text}"
        );
        let host = text.lines().find(|l| l.contains("host-1")).expect("the instance's row");
        for word in ["abc123", "ACTIVE", "connected", "1536/2048", "3772/3900", "2 running, 0 pending"] {
            assert!(host.contains(word), "{word} in {host}");
        }
        let web = text.lines().find(|l| l.contains("web:7")).expect("the service's row");
        let cells: Vec<&str> = web.split_whitespace().collect();
        assert_eq!(cells[..5], ["web", "ACTIVE", "2", "3", "1"], "{web}");
        assert!(web.contains("IN_PROGRESS (+1 older)"), "{web}");
        assert!(!text.contains('\u{1b}'));
        assert_eq!(render(&[], &Style::PLAIN), "No clusters.\n");
    }

    #[test]
    fn json_output_uses_the_wire_names() {
        let value = serde_json::to_value([sample()]).expect("serializes");
        assert_eq!(value[0]["cluster"]["clusterName"], "default");
        assert_eq!(value[0]["services"][0]["deployments"][0]["rolloutState"], "IN_PROGRESS");
        assert_eq!(value[0]["containerInstances"][0]["ec2InstanceId"], "host-1");
    }
}

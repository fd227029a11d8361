//! `berth ps [SERVICE]`: a cluster's tasks, where they run, their status and health, their age, and how they are
//! reached (host ports, or the private IP of an awsvpc task).

use super::api::Ecs;
use super::term::{Style, age, revision, short};
use anyhow::Result;
use berth_model::ecs;
use comfy_table::Cell;
use std::collections::BTreeMap;

/// Reads the tasks and the names of the hosts they run on (container instance ARN to `ec2InstanceId`).
pub async fn fetch(
    api: &Ecs,
    cluster: &str,
    service: Option<&str>,
    stopped: bool,
) -> Result<(Vec<ecs::Task>, BTreeMap<String, String>)> {
    let mut tasks = api.tasks(cluster, service, stopped).await?;
    tasks.sort_by(|a, b| {
        (a.group.as_deref(), a.created_at.unwrap_or_default().to_bits())
            .cmp(&(b.group.as_deref(), b.created_at.unwrap_or_default().to_bits()))
    });
    let hosts = api
        .instances(cluster)
        .await?
        .into_iter()
        .filter_map(|i| Some((i.container_instance_arn?, i.ec2_instance_id?)))
        .collect();
    Ok((tasks, hosts))
}

/// How a task is reached: `host:port->port/proto` for each binding, else its private IPv4 (awsvpc).
pub fn ports(task: &ecs::Task) -> String {
    let mut out = Vec::new();
    for container in task.containers.as_deref().unwrap_or_default() {
        for b in container.network_bindings.as_deref().unwrap_or_default() {
            let (Some(host), Some(port)) = (b.host_port, b.container_port) else { continue };
            let ip = b.bind_ip.as_deref().filter(|ip| *ip != "0.0.0.0").unwrap_or("");
            let proto = b.protocol.map(|p| p.as_str()).unwrap_or("tcp");
            let ip = match ip {
                "" => String::new(),
                v6 if v6.contains(':') => format!("[{v6}]:"),
                v4 => format!("{v4}:"),
            };
            out.push(format!("{ip}{host}->{port}/{proto}"));
        }
        for ni in container.network_interfaces.as_deref().unwrap_or_default() {
            if let Some(ip) = &ni.private_ipv4_address
                && !out.contains(ip)
            {
                out.push(ip.clone());
            }
        }
    }
    if out.is_empty() {
        for attachment in task.attachments.as_deref().unwrap_or_default() {
            for detail in attachment.details.as_deref().unwrap_or_default() {
                if detail.name.as_deref() == Some("privateIPv4Address")
                    && let Some(ip) = &detail.value
                {
                    out.push(ip.clone());
                }
            }
        }
    }
    if out.is_empty() { "-".into() } else { out.join(", ") }
}

/// `LAST/DESIRED` when they differ, else the one status.
pub fn status_text(task: &ecs::Task) -> String {
    let last = task.last_status.as_deref().unwrap_or("?");
    match task.desired_status.as_deref() {
        Some(desired) if desired != last => format!("{last}/{desired}"),
        _ => last.to_string(),
    }
}

/// The text `berth ps` prints; `now` in seconds since the epoch.
pub fn render(tasks: &[ecs::Task], hosts: &BTreeMap<String, String>, now: f64, style: &Style) -> String {
    if tasks.is_empty() {
        return "No tasks.\n".into();
    }
    let mut table = style.table(&["TASK", "GROUP", "REVISION", "STATUS", "HEALTH", "HOST", "AGE", "PORTS"]);
    for task in tasks {
        let host = task
            .container_instance_arn
            .as_deref()
            .map(|arn| hosts.get(arn).cloned().unwrap_or_else(|| short(arn).to_string()))
            .unwrap_or_else(|| "-".into());
        let status = status_text(task);
        let health = task.health_status.map(|h| h.as_str()).unwrap_or("UNKNOWN");
        let since = task.started_at.or(task.created_at);
        table.add_row(vec![
            Cell::new(short(task.task_arn.as_deref().unwrap_or("?"))),
            Cell::new(task.group.as_deref().unwrap_or("-")),
            Cell::new(revision(task.task_definition_arn.as_deref().unwrap_or("-"))),
            style.coloured(status.split('/').next().unwrap_or_default(), &status),
            style.status(health),
            Cell::new(host),
            Cell::new(since.map(|t| age(now, t)).unwrap_or_else(|| "-".into())),
            Cell::new(ports(task)),
        ]);
    }
    format!("{table}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn task(id: &str, last: &str, desired: &str) -> ecs::Task {
        ecs::Task {
            task_arn: Some(format!("arn:aws:ecs:us-east-1:0:task/default/{id}")),
            group: Some("service:web".into()),
            task_definition_arn: Some("arn:aws:ecs:us-east-1:0:task-definition/web:3".into()),
            last_status: Some(last.into()),
            desired_status: Some(desired.into()),
            health_status: Some(ecs::HealthStatus::Healthy),
            container_instance_arn: Some("arn:aws:ecs:us-east-1:0:container-instance/default/ci1".into()),
            created_at: Some(1000.0),
            started_at: Some(1010.0),
            containers: Some(vec![ecs::Container {
                name: Some("app".into()),
                network_bindings: Some(vec![ecs::NetworkBinding {
                    bind_ip: Some("0.0.0.0".into()),
                    container_port: Some(8080),
                    host_port: Some(32768),
                    protocol: Some(ecs::TransportProtocol::Tcp),
                    ..Default::default()
                }]),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn a_row_per_task_with_where_and_how_it_is_reached() {
        let hosts: BTreeMap<String, String> =
            [("arn:aws:ecs:us-east-1:0:container-instance/default/ci1".to_string(), "host-1".to_string())].into();
        let text = render(
            &[task("t1", "RUNNING", "RUNNING"), task("t2", "RUNNING", "STOPPED")],
            &hosts,
            1200.0,
            &Style::PLAIN,
        );
        let t1 = text.lines().find(|l| l.contains("t1")).expect("t1's row");
        let cells: Vec<&str> = t1.split_whitespace().collect();
        assert_eq!(cells, ["t1", "service:web", "web:3", "RUNNING", "HEALTHY", "host-1", "3m10s", "32768->8080/tcp"]);
        let t2 = text.lines().find(|l| l.contains("t2")).expect("t2's row");
        assert!(t2.contains("RUNNING/STOPPED"), "{t2}");
        assert_eq!(render(&[], &hosts, 0.0, &Style::PLAIN), "No tasks.\n");
        let mut v6 = task("t4", "RUNNING", "RUNNING");
        if let Some(b) = v6.containers.as_mut().and_then(|c| c[0].network_bindings.as_mut()) {
            b[0].bind_ip = Some("::".into());
        }
        assert_eq!(ports(&v6), "[::]:32768->8080/tcp");
    }

    #[test]
    fn an_awsvpc_task_shows_its_private_ip() {
        let mut t = task("t3", "RUNNING", "RUNNING");
        t.containers = Some(vec![ecs::Container::default()]);
        t.attachments = Some(vec![ecs::Attachment {
            details: Some(vec![ecs::KeyValuePair {
                name: Some("privateIPv4Address".into()),
                value: Some("10.0.1.5".into()),
            }]),
            ..Default::default()
        }]);
        assert_eq!(ports(&t), "10.0.1.5");
    }
}

//! `berth compose ps`: the project's services and their tasks, with status, health and ports.

use super::api::Api;
use crate::cli::ComposeFile;
use berth_compose::translate::family;
use serde_json::Value;

/// Runs `berth compose ps`.
pub async fn run(args: &ComposeFile) -> anyhow::Result<()> {
    let project = super::load(args, false)?;
    let api = Api::new(super::cluster(args), &args.client).await?;
    let mut rows = vec![["SERVICE", "STATUS", "RUNNING", "TASK", "LAST STATUS", "HEALTH", "PORTS"].map(String::from)];
    for index in &project.order {
        let service = &project.services[*index];
        let name = family(&project.name, &service.name);
        let Some(described) = api.service(&name).await? else {
            rows.push([name, "absent".into(), "-".into(), "-".into(), "-".into(), "-".into(), "-".into()]);
            continue;
        };
        let status = described["status"].as_str().unwrap_or("?").to_string();
        let counts = format!(
            "{}/{}",
            described["runningCount"].as_u64().unwrap_or(0),
            described["desiredCount"].as_u64().unwrap_or(0)
        );
        let tasks = api.tasks(&name, "RUNNING").await?;
        if tasks.is_empty() {
            rows.push([name, status, counts, "-".into(), "-".into(), "-".into(), "-".into()]);
            continue;
        }
        for task in tasks {
            rows.push([
                name.clone(),
                status.clone(),
                counts.clone(),
                task["taskArn"].as_str().and_then(|a| a.rsplit('/').next()).unwrap_or("?").to_string(),
                task["lastStatus"].as_str().unwrap_or("?").to_string(),
                task["healthStatus"].as_str().unwrap_or("UNKNOWN").to_string(),
                ports(&task),
            ]);
        }
    }
    print!("{}", table(&rows));
    Ok(())
}

/// A task's own address (awsvpc) and its bound ports as `host:port->container/protocol`, comma-separated.
fn ports(task: &Value) -> String {
    let address = task["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["networkInterfaces"].as_array().cloned().unwrap_or_default())
        .find_map(|i| i["privateIpv4Address"].as_str().map(str::to_string));
    let bindings: Vec<String> = task["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["networkBindings"].as_array().cloned().unwrap_or_default())
        .map(|b| {
            format!(
                "{}:{}->{}/{}",
                b["bindIP"].as_str().unwrap_or("0.0.0.0"),
                b["hostPort"].as_u64().unwrap_or(0),
                b["containerPort"].as_u64().unwrap_or(0),
                b["protocol"].as_str().unwrap_or("tcp")
            )
        })
        .collect();
    let mut parts: Vec<String> = address.into_iter().collect();
    parts.extend(bindings);
    if parts.is_empty() { "-".into() } else { parts.join(", ") }
}

/// Rows as left-aligned columns separated by two spaces.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> =
            row.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = widths[i])).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_and_columns() {
        let task = json!({"containers": [{"networkBindings": [
            {"bindIP": "0.0.0.0", "hostPort": 32768, "containerPort": 8080, "protocol": "tcp"}]}]});
        assert_eq!(ports(&task), "0.0.0.0:32768->8080/tcp");
        assert_eq!(ports(&json!({"containers": [{}]})), "-");
        let awsvpc = json!({"containers": [{"networkInterfaces": [{"privateIpv4Address": "10.0.1.5"}],
            "networkBindings": [{"bindIP": "0.0.0.0", "hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}]});
        assert_eq!(ports(&awsvpc), "10.0.1.5, 0.0.0.0:8080->80/tcp");
        let rows = [["A", "BB"].map(String::from), ["ccc", "d"].map(String::from)];
        assert_eq!(table(&rows), "A    BB\nccc  d\n");
    }
}

//! Security groups enforced on the host: the ingress rules of an awsvpc task's security groups become iptables
//! rules in chains the agent owns, installed before the task's containers start and removed with the task.
//!
//! Layout (filter table):
//! - `BERTH-SG`, jumped to first from `DOCKER-USER` (Docker runs it before its own forwarding rules; `FORWARD` when
//!   Docker has no such chain) for traffic between tasks and from other hosts, and from `OUTPUT` for connections
//!   the host itself opens. It holds one rule per task: `-d <task address>/32 -j BERTH-T-<task id, 16 hex>`.
//! - `BERTH-T-<id>`: replies of connections already allowed return (`conntrack ESTABLISHED,RELATED`), then one
//!   `RETURN` per permission and source (a CIDR, or the address of each interface in a source group, which the
//!   control plane resolved), then `DROP`, as a security group drops what it does not allow.
//!
//! Traffic between the containers of one task stays in its namespace (`localhost`) and is never filtered. Bridged
//! traffic between two tasks on one host passes `FORWARD` because Docker turns on `br_netfilter`.
//!
//! Limitations: egress rules are not enforced (every group allows all egress unless revoked; Berth does not
//! filter it); rule changes reach a running task when its desired state is next sent.

use berth_model::agent::{IngressRule, TaskNetwork};

/// The chain every task's chain hangs off.
pub const BASE_CHAIN: &str = "BERTH-SG";

/// The iptables binary.
const IPTABLES: &str = "iptables";

/// A task's own chain.
pub fn task_chain(task_arn: &str) -> String {
    let id: String = task_arn.rsplit('/').next().unwrap_or_default().chars().take(16).collect();
    format!("BERTH-T-{id}")
}

/// The iptables arguments (after `-A <chain>`) of a task's chain: established replies, each permitted source, then
/// drop.
pub fn task_rules(ingress: &[IngressRule]) -> Vec<Vec<String>> {
    let mut rules: Vec<Vec<String>> = vec![
        vec!["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"]
            .into_iter()
            .map(String::from)
            .collect(),
    ];
    for rule in ingress {
        for source in &rule.sources {
            let mut args: Vec<String> = vec!["-s".into(), source.clone()];
            match rule.protocol.as_str() {
                "tcp" | "udp" => {
                    args.extend(["-p".into(), rule.protocol.clone()]);
                    if let (Some(from), Some(to)) = (rule.from_port, rule.to_port) {
                        args.extend([
                            "--dport".into(),
                            if from == to { from.to_string() } else { format!("{from}:{to}") },
                        ]);
                    }
                }
                "icmp" => args.extend(["-p".into(), "icmp".into()]),
                _ => {}
            }
            args.extend(["-j".into(), "RETURN".into()]);
            rules.push(args);
        }
    }
    rules.push(vec!["-j".into(), "DROP".into()]);
    rules
}

async fn iptables(args: &[&str]) -> Result<(), String> {
    let output = tokio::process::Command::new(IPTABLES)
        .args(["-w", "5"])
        .args(args)
        .output()
        .await
        .map_err(|e| format!("running {IPTABLES}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{IPTABLES} {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

async fn iptables_out(args: &[&str]) -> Result<String, String> {
    let output = tokio::process::Command::new(IPTABLES)
        .args(["-w", "5"])
        .args(args)
        .output()
        .await
        .map_err(|e| format!("running {IPTABLES}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("{IPTABLES} {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// Creates `chain` unless it exists.
async fn ensure_chain(chain: &str) -> Result<(), String> {
    if iptables(&["-S", chain]).await.is_ok() {
        return Ok(());
    }
    match iptables(&["-N", chain]).await {
        Ok(()) => Ok(()),
        // Another worker made it in between.
        Err(e) if iptables(&["-S", chain]).await.is_ok() => {
            tracing::debug!(%e, "chain created concurrently");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Makes `from` jump to the base chain first.
async fn ensure_jump(from: &str) -> Result<(), String> {
    if iptables(&["-C", from, "-j", BASE_CHAIN]).await.is_ok() {
        return Ok(());
    }
    iptables(&["-I", from, "1", "-j", BASE_CHAIN]).await
}

/// Installs (or replaces) the rules of a task's interface.
pub async fn apply(task_arn: &str, network: &TaskNetwork) -> Result<(), String> {
    ensure_chain(BASE_CHAIN).await?;
    let forward = if iptables(&["-S", "DOCKER-USER"]).await.is_ok() { "DOCKER-USER" } else { "FORWARD" };
    ensure_jump(forward).await?;
    ensure_jump("OUTPUT").await?;
    let chain = task_chain(task_arn);
    ensure_chain(&chain).await?;
    iptables(&["-F", &chain]).await?;
    for rule in task_rules(&network.ingress) {
        let mut args: Vec<&str> = vec!["-A", &chain];
        args.extend(rule.iter().map(String::as_str));
        iptables(&args).await?;
    }
    let destination = format!("{}/32", network.address);
    // A task that held this address before and was never cleaned up (its agent was killed, its containers removed
    // by hand) must not filter the new one.
    if let Ok(listing) = iptables_out(&["-S", BASE_CHAIN]).await {
        let stale: Vec<(String, String)> = listing
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("-A {BASE_CHAIN} -d {destination} -j ")))
            .filter(|target| *target != chain)
            .map(|target| (target.to_string(), destination.clone()))
            .collect();
        for (old, destination) in stale {
            tracing::info!(chain = %old, address = %destination, "removing a stale task's security group rules");
            let _ = iptables(&["-D", BASE_CHAIN, "-d", &destination, "-j", &old]).await;
            let _ = iptables(&["-F", &old]).await;
            let _ = iptables(&["-X", &old]).await;
        }
    }
    if iptables(&["-C", BASE_CHAIN, "-d", &destination, "-j", &chain]).await.is_err() {
        iptables(&["-A", BASE_CHAIN, "-d", &destination, "-j", &chain]).await?;
    }
    Ok(())
}

/// Removes a task's rules (those that exist; none is fine).
pub async fn remove(task_arn: &str) {
    let chain = task_chain(task_arn);
    if let Ok(listing) = iptables_out(&["-S", BASE_CHAIN]).await {
        for line in listing.lines().filter(|l| l.ends_with(&format!("-j {chain}"))) {
            let Some(rule) = line.strip_prefix("-A ") else { continue };
            let mut args = vec!["-D"];
            args.extend(rule.split_whitespace());
            if let Err(error) = iptables(&args).await {
                tracing::warn!(%error, "removing a task's security group jump failed");
            }
        }
    }
    if iptables(&["-S", &chain]).await.is_ok() {
        for args in [["-F", chain.as_str()], ["-X", chain.as_str()]] {
            if let Err(error) = iptables(&args).await {
                tracing::warn!(%error, "removing a task's security group chain failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_allow_replies_then_each_source_then_drop() {
        let ingress = vec![
            IngressRule {
                protocol: "tcp".into(),
                from_port: Some(8080),
                to_port: Some(8080),
                sources: vec!["10.0.0.0/8".into(), "172.31.0.5/32".into()],
            },
            IngressRule { protocol: "-1".into(), from_port: None, to_port: None, sources: vec!["192.0.2.0/24".into()] },
            IngressRule { protocol: "udp".into(), from_port: Some(53), to_port: Some(54), sources: vec![] },
        ];
        let rules: Vec<String> = task_rules(&ingress).into_iter().map(|r| r.join(" ")).collect();
        assert_eq!(
            rules,
            [
                "-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
                "-s 10.0.0.0/8 -p tcp --dport 8080 -j RETURN",
                "-s 172.31.0.5/32 -p tcp --dport 8080 -j RETURN",
                "-s 192.0.2.0/24 -j RETURN",
                "-j DROP",
            ]
        );
        assert_eq!(task_chain("arn:aws:ecs:us-east-1:0:task/default/0123456789abcdef0123"), "BERTH-T-0123456789abcdef");
    }
}

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
//! - `BERTH-E-<id>`, when the task's groups restrict egress (none has the default allow-all rule): jumped to with
//!   `-s <task address>/32`; replies return, then one `RETURN` per permission and destination, then `DROP`. What
//!   the task sends to its own host (the DNS server on its gateway, the credentials endpoint 169.254.170.2) is not
//!   forwarded and not filtered, as AWS does not filter its DNS and metadata services.
//!
//! Traffic between the containers of one task stays in its namespace (`localhost`) and is never filtered. Bridged
//! traffic between two tasks on one host passes `FORWARD` because Docker turns on `br_netfilter`.
//!
//! Limitations: rule changes reach a running task when its desired state is next sent.

use berth_model::agent::{IngressRule, TaskNetwork};

/// The chain every task's chain hangs off.
pub const BASE_CHAIN: &str = "BERTH-SG";

/// The iptables binary.
const IPTABLES: &str = "iptables";

/// A task's own chain (its ingress).
pub fn task_chain(task_arn: &str) -> String {
    let id: String = task_arn.rsplit('/').next().unwrap_or_default().chars().take(16).collect();
    format!("BERTH-T-{id}")
}

/// A task's egress chain.
pub fn egress_chain(task_arn: &str) -> String {
    task_chain(task_arn).replacen("BERTH-T-", "BERTH-E-", 1)
}

/// The iptables arguments (after `-A <chain>`) of a task's ingress chain: established replies, each permitted
/// source, then drop.
pub fn task_rules(ingress: &[IngressRule]) -> Vec<Vec<String>> {
    rules_of(ingress, "-s")
}

/// The iptables arguments of a task's egress chain: established replies, each permitted destination, then drop.
pub fn egress_rules(egress: &[IngressRule]) -> Vec<Vec<String>> {
    rules_of(egress, "-d")
}

/// Established replies, one `RETURN` per permission and address (`-s` sources or `-d` destinations), then drop.
fn rules_of(permissions: &[IngressRule], address_flag: &str) -> Vec<Vec<String>> {
    let ingress = permissions;
    let mut rules: Vec<Vec<String>> = vec![
        vec!["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"]
            .into_iter()
            .map(String::from)
            .collect(),
    ];
    for rule in ingress {
        for source in &rule.sources {
            let mut args: Vec<String> = vec![address_flag.into(), source.clone()];
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

/// Runs `iptables -w 5 <args>`; the error says what failed.
pub(crate) async fn iptables(args: &[&str]) -> Result<(), String> {
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

/// Runs `iptables -w 5 <args>` and answers its output.
pub(crate) async fn iptables_out(args: &[&str]) -> Result<String, String> {
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
pub(crate) async fn ensure_chain(chain: &str) -> Result<(), String> {
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
pub(crate) async fn ensure_jump(from: &str) -> Result<(), String> {
    if iptables(&["-C", from, "-j", BASE_CHAIN]).await.is_ok() {
        return Ok(());
    }
    iptables(&["-I", from, "1", "-j", BASE_CHAIN]).await
}

/// The chain forwarded traffic is filtered in: Docker's `DOCKER-USER`, or `FORWARD` on a host without it.
pub(crate) async fn forward_chain() -> &'static str {
    if iptables(&["-S", "DOCKER-USER"]).await.is_ok() { "DOCKER-USER" } else { "FORWARD" }
}

/// Makes the base chain exist with its jumps from the forward chain and `OUTPUT`; answers the forward chain.
pub(crate) async fn ensure_base() -> Result<&'static str, String> {
    ensure_chain(BASE_CHAIN).await?;
    let forward = forward_chain().await;
    ensure_jump(forward).await?;
    ensure_jump("OUTPUT").await?;
    Ok(forward)
}

/// Installs (or replaces) the rules of a task's interface.
pub async fn apply(task_arn: &str, network: &TaskNetwork) -> Result<(), String> {
    ensure_base().await?;
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
    apply_egress(task_arn, network).await
}

/// Installs, replaces or removes a task's egress chain as its groups say.
async fn apply_egress(task_arn: &str, network: &TaskNetwork) -> Result<(), String> {
    let chain = egress_chain(task_arn);
    let source = format!("{}/32", network.address);
    // A task that held this address before and was never cleaned up must not filter this one's egress.
    if let Ok(listing) = iptables_out(&["-S", BASE_CHAIN]).await {
        let prefix = format!("-A {BASE_CHAIN} -s {source} -j ");
        let stale: Vec<String> = listing
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter(|target| *target != chain)
            .map(str::to_string)
            .collect();
        for old in stale {
            tracing::info!(chain = %old, address = %source, "removing a stale task's egress rules");
            drop_chain(&old).await;
        }
    }
    let Some(egress) = &network.egress else {
        // Everything may go out: no chain (a rule change may have lifted a restriction).
        drop_chain(&chain).await;
        return Ok(());
    };
    ensure_chain(&chain).await?;
    iptables(&["-F", &chain]).await?;
    for rule in egress_rules(egress) {
        let mut args: Vec<&str> = vec!["-A", &chain];
        args.extend(rule.iter().map(String::as_str));
        iptables(&args).await?;
    }
    if iptables(&["-C", BASE_CHAIN, "-s", &source, "-j", &chain]).await.is_err() {
        iptables(&["-A", BASE_CHAIN, "-s", &source, "-j", &chain]).await?;
    }
    Ok(())
}

/// Removes the jumps to `chain` from the base chain, then the chain (those that exist; none is fine).
async fn drop_chain(chain: &str) {
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
    if iptables(&["-S", chain]).await.is_ok() {
        for args in [["-F", chain], ["-X", chain]] {
            if let Err(error) = iptables(&args).await {
                tracing::warn!(%error, "removing a task's security group chain failed");
            }
        }
    }
}

/// Removes a task's rules, ingress and egress (those that exist; none is fine).
pub async fn remove(task_arn: &str) {
    drop_chain(&task_chain(task_arn)).await;
    drop_chain(&egress_chain(task_arn)).await;
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
        assert_eq!(
            egress_chain("arn:aws:ecs:us-east-1:0:task/default/0123456789abcdef0123"),
            "BERTH-E-0123456789abcdef"
        );
    }

    #[test]
    fn egress_rules_name_destinations() {
        let egress = vec![IngressRule {
            protocol: "tcp".into(),
            from_port: Some(443),
            to_port: Some(443),
            sources: vec!["172.31.0.9/32".into()],
        }];
        let rules: Vec<String> = egress_rules(&egress).into_iter().map(|r| r.join(" ")).collect();
        assert_eq!(
            rules,
            [
                "-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
                "-d 172.31.0.9/32 -p tcp --dport 443 -j RETURN",
                "-j DROP"
            ]
        );
    }
}

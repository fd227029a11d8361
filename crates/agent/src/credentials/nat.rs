//! The per-task NAT rules that send a task's packets for 169.254.170.2:80 to this agent's credentials listener.
//!
//! Layout (nat table): `PREROUTING` jumps to `BERTH-CREDS` for `-d 169.254.170.2/32 -p tcp --dport 80`; every
//! agent on the host adds to that one chain one rule per task address,
//! `-s <address>/32 -p tcp -m comment --comment berth-creds-<task id> -j DNAT --to-destination <listener>`,
//! and removes its task's rules when the task stops. Addresses are unique on a host (one Docker engine assigns
//! them), so the rules of many agents never overlap; a rule left for an address by a task that is gone (its agent
//! was killed) is replaced when the address is routed again, and so is a task's rule to the listener of an earlier
//! run of its agent.

use std::net::{IpAddr, SocketAddr};

/// The nat chain every agent's task rules live in.
pub const CHAIN: &str = "BERTH-CREDS";

/// The comment naming a task's rules.
pub fn comment(task_arn: &str) -> String {
    format!("berth-creds-{}", task_arn.rsplit('/').next().unwrap_or_default())
}

/// The arguments (after `-A BERTH-CREDS`) of the rule for one task address.
pub fn rule(task_arn: &str, source: IpAddr, target: SocketAddr) -> Vec<String> {
    [
        "-s",
        &format!("{source}/32"),
        "-p",
        "tcp",
        "-m",
        "comment",
        "--comment",
        &comment(task_arn),
        "-j",
        "DNAT",
        "--to-destination",
        &target.to_string(),
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

async fn iptables(args: &[&str]) -> Result<String, String> {
    let output = tokio::process::Command::new("iptables")
        .args(["-w", "5", "-t", "nat"])
        .args(args)
        .output()
        .await
        .map_err(|e| format!("running iptables: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("iptables -t nat {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

async fn ensure_chain() -> Result<(), String> {
    if iptables(&["-S", CHAIN]).await.is_ok() {
        return Ok(());
    }
    match iptables(&["-N", CHAIN]).await {
        Ok(_) => Ok(()),
        // Another agent made it in between.
        Err(_) if iptables(&["-S", CHAIN]).await.is_ok() => Ok(()),
        Err(e) => Err(e),
    }
}

async fn ensure_jump() -> Result<(), String> {
    let jump = ["PREROUTING", "-d", "169.254.170.2/32", "-p", "tcp", "--dport", "80", "-j", CHAIN];
    let mut check = vec!["-C"];
    check.extend(jump);
    if iptables(&check).await.is_ok() {
        return Ok(());
    }
    let mut insert = vec!["-I", jump[0], "1"];
    insert.extend(&jump[1..]);
    iptables(&insert).await.map(drop)
}

/// Deletes the rules of `CHAIN` whose listing line satisfies `pick`.
async fn delete_where(pick: impl Fn(&str) -> bool) {
    let Ok(listing) = iptables(&["-S", CHAIN]).await else { return };
    for line in listing.lines().filter(|l| pick(l)) {
        let Some(spec) = line.strip_prefix("-A ") else { continue };
        let mut args = vec!["-D"];
        args.extend(spec.split_whitespace());
        if let Err(error) = iptables(&args).await {
            tracing::warn!(%error, "removing a credentials NAT rule failed");
        }
    }
}

/// Sends `source`'s packets for 169.254.170.2:80 to `target`, for `task_arn`.
pub async fn route(task_arn: &str, source: IpAddr, target: SocketAddr) -> Result<(), String> {
    ensure_chain().await?;
    ensure_jump().await?;
    let prefix = format!("-A {CHAIN} -s {source}/32 ");
    let own = comment(task_arn);
    let destination = format!("--to-destination {target}");
    // A rule another task left for this address (its agent was killed before it stopped), or this task's rule to
    // the listener of an earlier run of its agent (the agent restarted: its listener has another port).
    delete_where(|l| l.starts_with(&prefix) && !(l.contains(&own) && l.trim_end().ends_with(&destination))).await;
    let rule = rule(task_arn, source, target);
    let mut check = vec!["-C", CHAIN];
    check.extend(rule.iter().map(String::as_str));
    if iptables(&check).await.is_ok() {
        return Ok(());
    }
    let mut append = vec!["-A", CHAIN];
    append.extend(rule.iter().map(String::as_str));
    iptables(&append).await.map(drop)
}

/// Removes every rule of `task_arn` (none is fine).
pub async fn remove(task_arn: &str) {
    let own = format!("--comment {}", comment(task_arn));
    delete_where(|l| l.contains(&own)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_per_task_address_names_its_task() {
        let task = "arn:aws:ecs:us-east-1:0:task/default/0123456789abcdef0123456789abcdef";
        let rule = rule(task, IpAddr::from([172, 17, 0, 5]), SocketAddr::from(([172, 17, 0, 1], 40001)));
        assert_eq!(
            rule.join(" "),
            "-s 172.17.0.5/32 -p tcp -m comment --comment berth-creds-0123456789abcdef0123456789abcdef -j DNAT \
             --to-destination 172.17.0.1:40001"
        );
    }
}

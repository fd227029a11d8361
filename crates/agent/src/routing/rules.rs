//! The two iptables rules that let traffic between the VPC's hosts through Docker's own rules, as it is.
//!
//! What Docker does to a bridge network `bv…` of subnet `S` (`iptables -S`, `iptables -t nat -S`): it masquerades
//! everything leaving the bridge for elsewhere (`-t nat -I POSTROUTING -s S ! -o bv… -j MASQUERADE`, inserted at
//! the top whenever a network is created), lets the bridge send anywhere (`FORWARD -i bv… ! -o bv… -j ACCEPT`),
//! and lets in only replies and published ports (`FORWARD -o bv… -j DOCKER`, then the `DROP` policy). So a task
//! on host A reaching a task on host B would leave A with A's address, and be dropped on B. Berth adds, per VPC:
//!
//! - nat `POSTROUTING`: `-s VPC -d VPC -m comment --comment berth-vpc-routing -j RETURN`, before every
//!   masquerade rule of a slice of the VPC: traffic between the VPC's addresses keeps its source, so security
//!   groups by source group (resolved to task addresses) hold across hosts. Traffic to elsewhere is masqueraded
//!   by Docker's rules as before.
//! - `DOCKER-USER` (where Berth's `BERTH-SG` hangs): `-d VPC -o bv+ -m comment --comment berth-vpc-routing -j
//!   ACCEPT`, right after the jump to `BERTH-SG`: what the destination task's security groups let through
//!   (`BERTH-SG` drops the rest) is accepted onto the slice's bridge instead of falling to Docker's `DROP`, from
//!   any source, as on AWS, where a security group alone decides (a task's own address in another host's slice,
//!   or another host's own address: the load balancer in a `berth server` elsewhere).
//!
//! Both are found again by their comment and VPC, so Berths of other VPCs on the same host keep theirs.

use crate::firewall::{BASE_CHAIN, iptables, iptables_out};
use berth_model::cidr::Cidr;

/// The comment on Berth's routing rules.
pub const COMMENT: &str = "berth-vpc-routing";

/// What a chain needs so that the VPC's rule is in place.
#[derive(Debug, PartialEq, Eq)]
pub enum Fix {
    /// It is where it must be.
    Fine,
    /// Insert the rule at this 1-based position (after deleting each listed rule, as `iptables -S` wrote it).
    Insert {
        /// Misplaced copies of the rule to delete first (`-A ...` lines).
        delete: Vec<String>,
        /// The position, counted after the deletions.
        position: usize,
    },
}

/// The nat rule's arguments after `-A POSTROUTING` / `-I POSTROUTING n`.
pub fn nat_rule(vpc: &Cidr) -> Vec<String> {
    let vpc = vpc.to_string();
    ["-s", &vpc, "-d", &vpc, "-m", "comment", "--comment", COMMENT, "-j", "RETURN"].map(String::from).to_vec()
}

/// The forward rule's arguments after `-A <chain>` / `-I <chain> n`.
pub fn forward_rule(vpc: &Cidr) -> Vec<String> {
    let vpc = vpc.to_string();
    ["-d", &vpc, "-o", "bv+", "-m", "comment", "--comment", COMMENT, "-j", "ACCEPT"].map(String::from).to_vec()
}

/// The rules (`-A ...` lines) of an `iptables -S <chain>` listing, in order.
fn rules(listing: &str) -> Vec<&str> {
    listing.lines().filter(|l| l.starts_with("-A ")).collect()
}

/// Whether a listed rule is this VPC's routing rule.
fn is_ours(line: &str, vpc: &Cidr) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let has = |pair: [&str; 2]| words.windows(2).any(|w| w == pair);
    has(["--comment", COMMENT]) && has(["-d", &vpc.to_string()])
}

/// Whether a listed rule masquerades traffic from a network inside the VPC (Docker's rule for a slice).
fn masquerades_inside(line: &str, vpc: &Cidr) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.windows(2).any(|w| w == ["-j", "MASQUERADE"])
        && words
            .windows(2)
            .any(|w| w[0] == "-s" && Cidr::parse(w[1]).is_some_and(|source| vpc.contains(source.network)))
}

/// What `POSTROUTING` (listing of `iptables -t nat -S POSTROUTING`) needs: the rule before every masquerade rule
/// of the VPC's slices (Docker inserts those at the top when it creates a network).
pub fn nat_fix(listing: &str, vpc: &Cidr) -> Fix {
    let rules = rules(listing);
    let ours: Vec<usize> = (0..rules.len()).filter(|i| is_ours(rules[*i], vpc)).collect();
    let first_masquerade = rules.iter().position(|l| masquerades_inside(l, vpc));
    match (ours.first(), first_masquerade) {
        (Some(o), Some(m)) if *o < m && ours.len() == 1 => Fix::Fine,
        (Some(_), None) if ours.len() == 1 => Fix::Fine,
        _ => Fix::Insert { delete: ours.iter().map(|i| rules[*i].to_string()).collect(), position: 1 },
    }
}

/// What the forward chain (listing of `iptables -S <chain>`) needs: the rule right after the jump to `BERTH-SG`,
/// so that security groups are checked first. `None` when there is no such jump.
pub fn forward_fix(listing: &str, vpc: &Cidr) -> Option<Fix> {
    let rules = rules(listing);
    let jump = rules.iter().position(|l| l.split_whitespace().collect::<Vec<_>>().ends_with(&["-j", BASE_CHAIN]))?;
    let ours: Vec<usize> = (0..rules.len()).filter(|i| is_ours(rules[*i], vpc)).collect();
    if ours == [jump + 1] {
        return Some(Fix::Fine);
    }
    // Deleting copies before the jump moves it up by one each.
    let before = ours.iter().filter(|i| **i < jump).count();
    Some(Fix::Insert { delete: ours.iter().map(|i| rules[*i].to_string()).collect(), position: jump + 2 - before })
}

/// Applies a fix to `chain` of `table`, whose rule is `rule`.
async fn apply_fix(table: &str, chain: &str, fix: Fix, rule: &[String]) -> Result<(), String> {
    let Fix::Insert { delete, position } = fix else { return Ok(()) };
    for line in delete {
        let Some(spec) = line.strip_prefix("-A ") else { continue };
        let mut args = vec!["-t", table, "-D"];
        args.extend(spec.split_whitespace());
        iptables(&args).await?;
    }
    let position = position.to_string();
    let mut args = vec!["-t", table, "-I", chain, &position];
    args.extend(rule.iter().map(String::as_str));
    iptables(&args).await
}

/// Makes both rules of `vpc` be in place (and in order).
pub async fn ensure(vpc: &Cidr) -> Result<(), String> {
    let listing = iptables_out(&["-t", "nat", "-S", "POSTROUTING"]).await?;
    apply_fix("nat", "POSTROUTING", nat_fix(&listing, vpc), &nat_rule(vpc)).await?;
    let forward = crate::firewall::ensure_base().await?;
    let listing = iptables_out(&["-t", "filter", "-S", forward]).await?;
    let fix = forward_fix(&listing, vpc).ok_or_else(|| format!("no jump from {forward} to {BASE_CHAIN}"))?;
    apply_fix("filter", forward, fix, &forward_rule(vpc)).await
}

/// Removes both rules of `vpc` (those that exist).
pub async fn remove(vpc: &Cidr) -> Result<(), String> {
    let forward = crate::firewall::forward_chain().await;
    for (table, chain) in [("nat", "POSTROUTING"), ("filter", forward)] {
        let listing = iptables_out(&["-t", table, "-S", chain]).await?;
        for line in rules(&listing).into_iter().filter(|l| is_ours(l, vpc)) {
            let Some(spec) = line.strip_prefix("-A ") else { continue };
            let mut args = vec!["-t", table, "-D"];
            args.extend(spec.split_whitespace());
            iptables(&args).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vpc() -> Cidr {
        Cidr::parse("10.5.0.0/16").unwrap()
    }

    const OURS_NAT: &str =
        "-A POSTROUTING -s 10.5.0.0/16 -d 10.5.0.0/16 -m comment --comment berth-vpc-routing -j RETURN";

    #[test]
    fn the_nat_rule_goes_before_the_slices_masquerade() {
        let docker = "-P POSTROUTING ACCEPT\n-A POSTROUTING -s 10.5.3.0/24 ! -o bv0a050300 -j MASQUERADE\n\
                      -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n";
        assert_eq!(nat_fix(docker, &vpc()), Fix::Insert { delete: vec![], position: 1 });
        let fine = format!("-P POSTROUTING ACCEPT\n{OURS_NAT}\n-A POSTROUTING -s 10.5.3.0/24 ! -o bv0 -j MASQUERADE\n");
        assert_eq!(nat_fix(&fine, &vpc()), Fix::Fine);
        // Docker created another slice's network since: its rule is on top now.
        let moved = format!("-A POSTROUTING -s 10.5.19.0/24 ! -o bv1 -j MASQUERADE\n{OURS_NAT}\n");
        assert_eq!(nat_fix(&moved, &vpc()), Fix::Insert { delete: vec![OURS_NAT.into()], position: 1 });
        // Another network's rule above it does not matter.
        let other = format!("-A POSTROUTING -s 172.18.0.0/16 ! -o br-x -j MASQUERADE\n{OURS_NAT}\n");
        assert_eq!(nat_fix(&other, &vpc()), Fix::Fine);
        // Another VPC's rule is not ours.
        let other_vpc = OURS_NAT.replace("10.5.", "10.6.");
        assert_eq!(nat_fix(&other_vpc, &vpc()), Fix::Insert { delete: vec![], position: 1 });
        assert_eq!(nat_rule(&vpc()).join(" "), OURS_NAT.trim_start_matches("-A POSTROUTING "));
    }

    #[test]
    fn the_forward_rule_goes_right_after_the_security_groups() {
        let ours = "-A DOCKER-USER -d 10.5.0.0/16 -o bv+ -m comment --comment berth-vpc-routing -j ACCEPT";
        let bare = "-N DOCKER-USER\n-A DOCKER-USER -j BERTH-SG\n-A DOCKER-USER -j RETURN\n";
        assert_eq!(forward_fix(bare, &vpc()), Some(Fix::Insert { delete: vec![], position: 2 }));
        let fine = format!("-N DOCKER-USER\n-A DOCKER-USER -j BERTH-SG\n{ours}\n-A DOCKER-USER -j RETURN\n");
        assert_eq!(forward_fix(&fine, &vpc()), Some(Fix::Fine));
        let before = format!("-N DOCKER-USER\n{ours}\n-A DOCKER-USER -j BERTH-SG\n-A DOCKER-USER -j RETURN\n");
        assert_eq!(forward_fix(&before, &vpc()), Some(Fix::Insert { delete: vec![ours.into()], position: 2 }));
        assert_eq!(forward_fix("-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n", &vpc()), None);
        assert_eq!(forward_rule(&vpc()).join(" "), ours.trim_start_matches("-A DOCKER-USER "));
    }
}

//! Security group records and their rules, with EC2's rules for what may be authorized and revoked.
//!
//! A record is stored under `/vpc/sg/<id>` as JSON. The default VPC's default group (`default`) exists from the
//! start with AWS's default rules: all traffic in from members of the group itself, all traffic out.

use crate::Permission;
use serde::{Deserialize, Serialize};

/// The store prefix of security group records.
pub const PREFIX: &str = "/vpc/sg/";

/// A security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRecord {
    /// `sg-...`.
    pub id: String,
    /// Its name, unique in its VPC.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its VPC.
    pub vpc_id: String,
    /// The account that owns it.
    pub owner_id: String,
    /// Inbound permissions.
    #[serde(default)]
    pub ingress: Vec<Permission>,
    /// Outbound permissions.
    #[serde(default)]
    pub egress: Vec<Permission>,
    /// Tags, in order.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

/// The key of a security group's record.
pub fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

/// Why a rule change is refused, with EC2's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// EC2's code (`InvalidPermission.Duplicate`, ...).
    pub code: &'static str,
    /// The message.
    pub message: String,
}

impl Permission {
    /// Whether `other` names the same protocol and ports.
    pub fn same_ports(&self, other: &Permission) -> bool {
        self.protocol == other.protocol && self.from_port == other.from_port && self.to_port == other.to_port
    }

    /// Checks a permission as EC2 does: a known protocol, ports for TCP and UDP in 0-65535 with from ≤ to, and at
    /// least one source (or destination).
    pub fn validate(&self) -> Result<(), RuleError> {
        let invalid = |message: String| RuleError { code: "InvalidParameterValue", message };
        match self.protocol.as_str() {
            "-1" | "icmp" => {}
            "tcp" | "udp" => {
                let (Some(from), Some(to)) = (self.from_port, self.to_port) else {
                    return Err(RuleError {
                        code: "MissingParameter",
                        message: format!(
                            "Invalid value 'null' for portRange. Must specify both from and to ports with {}.",
                            self.protocol.to_uppercase()
                        ),
                    });
                };
                if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to {
                    return Err(RuleError {
                        code: "InvalidParameterValue",
                        message: format!(
                            "Invalid TCP/UDP port range ({from}-{to}): ports are 0 to 65535, the first not above the last."
                        ),
                    });
                }
            }
            other => {
                return Err(invalid(format!(
                    "Invalid value '{other}' for IP protocol. Unknown protocol (Berth takes tcp, udp, icmp or -1)."
                )));
            }
        }
        for cidr in &self.cidrs {
            if crate::Cidr::parse(cidr).is_none() {
                return Err(RuleError {
                    code: "InvalidParameterValue",
                    message: format!("CIDR block {cidr} is malformed"),
                });
            }
        }
        if self.cidrs.is_empty() && self.groups.is_empty() {
            return Err(RuleError {
                code: "MissingParameter",
                message:
                    "The request must contain the parameter ipPermissions (a CIDR range or a source security group)."
                        .into(),
            });
        }
        Ok(())
    }
}

/// Adds `permissions` to `rules` as EC2 does: one rule per protocol and port range, a source already there is a
/// duplicate (the whole call fails).
pub fn authorize(rules: &mut Vec<Permission>, permissions: &[Permission], group_id: &str) -> Result<(), RuleError> {
    let mut next = rules.clone();
    for p in permissions {
        p.validate()?;
        let existing = next.iter_mut().find(|r| r.same_ports(p));
        let rule = match existing {
            Some(rule) => rule,
            None => {
                next.push(Permission { cidrs: Vec::new(), groups: Vec::new(), ..p.clone() });
                let last = next.len() - 1;
                &mut next[last]
            }
        };
        for cidr in &p.cidrs {
            if rule.cidrs.contains(cidr) {
                return Err(duplicate(group_id, p, cidr));
            }
            rule.cidrs.push(cidr.clone());
        }
        for group in &p.groups {
            if rule.groups.contains(group) {
                return Err(duplicate(group_id, p, group));
            }
            rule.groups.push(group.clone());
        }
    }
    *rules = next;
    Ok(())
}

fn duplicate(group_id: &str, p: &Permission, source: &str) -> RuleError {
    let ports = match (p.from_port, p.to_port) {
        (Some(from), Some(to)) => format!(" {from}-{to}"),
        _ => String::new(),
    };
    RuleError {
        code: "InvalidPermission.Duplicate",
        message: format!(
            "the specified rule \"peer: {source}, {}{ports}, ALLOW\" already exists in security group {group_id}",
            p.protocol.to_uppercase()
        ),
    }
}

/// Removes `permissions` from `rules`; a source that is not there is `InvalidPermission.NotFound`.
pub fn revoke(rules: &mut Vec<Permission>, permissions: &[Permission], group_id: &str) -> Result<(), RuleError> {
    let mut next = rules.clone();
    for p in permissions {
        let not_found = || RuleError {
            code: "InvalidPermission.NotFound",
            message: format!(
                "The specified rule does not exist in this security group {group_id} (protocol {}, ports {:?}-{:?}).",
                p.protocol, p.from_port, p.to_port
            ),
        };
        let Some(rule) = next.iter_mut().find(|r| r.same_ports(p)) else { return Err(not_found()) };
        for cidr in &p.cidrs {
            let before = rule.cidrs.len();
            rule.cidrs.retain(|c| c != cidr);
            if rule.cidrs.len() == before {
                return Err(not_found());
            }
        }
        for group in &p.groups {
            let before = rule.groups.len();
            rule.groups.retain(|g| g != group);
            if rule.groups.len() == before {
                return Err(not_found());
            }
        }
    }
    next.retain(|r| !r.cidrs.is_empty() || !r.groups.is_empty());
    *rules = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: i32, cidrs: &[&str], groups: &[&str]) -> Permission {
        Permission {
            protocol: "tcp".into(),
            from_port: Some(port),
            to_port: Some(port),
            cidrs: cidrs.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn rules_merge_by_ports_and_refuse_duplicates() {
        let mut rules = Vec::new();
        authorize(&mut rules, &[tcp(80, &["10.0.0.0/8"], &[])], "sg-1").unwrap();
        authorize(&mut rules, &[tcp(80, &[], &["sg-2"])], "sg-1").unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!((rules[0].cidrs.len(), rules[0].groups.len()), (1, 1));
        let err = authorize(&mut rules, &[tcp(80, &["10.0.0.0/8"], &[])], "sg-1").unwrap_err();
        assert_eq!(err.code, "InvalidPermission.Duplicate");
        revoke(&mut rules, &[tcp(80, &["10.0.0.0/8"], &[])], "sg-1").unwrap();
        assert_eq!(
            revoke(&mut rules, &[tcp(80, &["10.0.0.0/8"], &[])], "sg-1").unwrap_err().code,
            "InvalidPermission.NotFound"
        );
        revoke(&mut rules, &[tcp(80, &[], &["sg-2"])], "sg-1").unwrap();
        assert!(rules.is_empty());
    }

    #[test]
    fn permissions_are_validated() {
        assert_eq!(tcp(70000, &["0.0.0.0/0"], &[]).validate().unwrap_err().code, "InvalidParameterValue");
        assert_eq!(tcp(80, &["10.0.0.1/8"], &[]).validate().unwrap_err().code, "InvalidParameterValue");
        assert_eq!(tcp(80, &[], &[]).validate().unwrap_err().code, "MissingParameter");
        let all = Permission {
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            cidrs: vec!["0.0.0.0/0".into()],
            groups: vec![],
        };
        assert!(all.validate().is_ok());
        let bad = Permission { protocol: "gre".into(), ..all };
        assert!(bad.validate().is_err());
    }
}

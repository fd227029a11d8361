//! Amazon Resource Names: `arn:partition:service:region:account:resource`.

use std::fmt;

/// A parsed ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    /// The partition, `aws` for Berth.
    pub partition: String,
    /// The service, e.g. `ecs` or `ecr`.
    pub service: String,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// The 12-digit account id.
    pub account: String,
    /// The resource part, e.g. `task/default/0123...`.
    pub resource: String,
}

/// Why a string is not an ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid arn {arn:?}: {reason}")]
pub struct ArnError {
    /// The text that failed to parse.
    pub arn: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Arn {
    /// Parses `arn:partition:service:region:account:resource` (the resource may contain `:` and `/`).
    pub fn parse(text: &str) -> Result<Self, ArnError> {
        let err = |reason| ArnError { arn: text.to_string(), reason };
        let mut parts = text.splitn(6, ':');
        if parts.next() != Some("arn") {
            return Err(err("it does not start with `arn:`"));
        }
        let partition = parts.next().ok_or_else(|| err("it has no partition"))?;
        let service = parts.next().ok_or_else(|| err("it has no service"))?;
        let region = parts.next().ok_or_else(|| err("it has no region"))?;
        let account = parts.next().ok_or_else(|| err("it has no account"))?;
        let resource = parts.next().ok_or_else(|| err("it has no resource"))?;
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return Err(err("partition, service and resource must not be empty"));
        }
        Ok(Self {
            partition: partition.to_string(),
            service: service.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            resource: resource.to_string(),
        })
    }

    /// The resource type: the resource part up to its first `/` (`task` in `task/default/abc`).
    pub fn resource_type(&self) -> &str {
        self.resource.split(['/', ':']).next().unwrap_or("")
    }

    /// The resource part after the type, split on `/` (`["default", "abc"]` for `task/default/abc`).
    pub fn resource_path(&self) -> Vec<&str> {
        self.resource.split('/').skip(1).collect()
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arn:{}:{}:{}:{}:{}", self.partition, self.service, self.region, self.account, self.resource)
    }
}

/// Whether `text` looks like an ARN rather than a short name.
pub fn is_arn(text: &str) -> bool {
    text.starts_with("arn:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_task_arn() {
        let text = "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef";
        let arn = Arn::parse(text).unwrap();
        assert_eq!(arn.service, "ecs");
        assert_eq!(arn.resource_type(), "task");
        assert_eq!(arn.resource_path(), vec!["default", "0123456789abcdef0123456789abcdef"]);
        assert_eq!(arn.to_string(), text);
    }

    #[test]
    fn task_definition_arn_keeps_revision() {
        let arn = Arn::parse("arn:aws:ecs:us-east-1:000000000000:task-definition/web:3").unwrap();
        assert_eq!(arn.resource_type(), "task-definition");
        assert_eq!(arn.resource_path(), vec!["web:3"]);
    }

    #[test]
    fn rejects_non_arns() {
        assert!(Arn::parse("default").is_err());
        assert!(Arn::parse("arn:aws:ecs").is_err());
        assert!(Arn::parse("arn:::::").is_err());
    }
}

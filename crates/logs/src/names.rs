//! Names and ARNs of log groups and streams, their validation, and their encoding in store keys.

use crate::LogsError;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What a store key may hold of a name verbatim; the rest is percent-encoded (so `/` cannot split a key).
const KEY_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// A name as it appears in a store key.
pub fn key_part(name: &str) -> String {
    utf8_percent_encode(name, KEY_SET).to_string()
}

/// Checks a log group name: 1-512 characters of `[.\-_/#A-Za-z0-9]`.
pub fn check_group(name: &str) -> Result<(), LogsError> {
    let ok =
        (1..=512).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+ and have length between 1 and 512"
        )))
    }
}

/// Checks a log stream name: 1-512 characters, no `:` or `*`.
pub fn check_stream(name: &str) -> Result<(), LogsError> {
    let ok = (1..=512).contains(&name.chars().count()) && !name.contains([':', '*']);
    if ok {
        Ok(())
    } else {
        Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: [^:*]* and have length between 1 and 512"
        )))
    }
}

/// Checks a metric filter name: 1-512 characters, no `:` or `*`.
pub fn check_filter(name: &str) -> Result<(), LogsError> {
    if (1..=512).contains(&name.chars().count()) && !name.contains([':', '*']) {
        Ok(())
    } else {
        Err(LogsError::invalid(format!("Invalid filterName '{name}': 1 to 512 characters, without ':' or '*'.")))
    }
}

/// The group's ARN as AWS writes it without a suffix (`logGroupArn`, tagging).
pub fn group_arn(region: &str, account: &str, group: &str) -> String {
    format!("arn:aws:logs:{region}:{account}:log-group:{group}")
}

/// The stream's ARN.
pub fn stream_arn(region: &str, account: &str, group: &str, stream: &str) -> String {
    format!("arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}")
}

/// The group a log group ARN names (with or without the `:*` suffix).
pub fn group_of_arn(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:logs:")?;
    let (_, name) = rest.split_once(":log-group:")?;
    Some(name.strip_suffix(":*").unwrap_or(name))
}

/// The group a request names by `logGroupName` or `logGroupIdentifier` (a name or an ARN); exactly one is needed.
pub fn group_of(name: Option<&str>, identifier: Option<&str>) -> Result<String, LogsError> {
    match (name, identifier) {
        (Some(n), None) => Ok(n.to_string()),
        (None, Some(id)) => Ok(group_of_arn(id).unwrap_or(id).to_string()),
        (Some(_), Some(_)) => {
            Err(LogsError::invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters."))
        }
        (None, None) => Err(LogsError::invalid("Either LogGroupName or LogGroupIdentifier must be specified.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws_rules() {
        assert!(check_group("/ecs/web#1_a-b.c").is_ok());
        assert!(check_group("").is_err());
        assert!(check_group("has space").is_err());
        assert!(check_group(&"a".repeat(513)).is_err());
        assert!(check_stream("ecs/web/0123 é").is_ok());
        assert!(check_stream("a:b").is_err());
        assert!(check_stream("a*").is_err());
    }

    #[test]
    fn keys_and_arns() {
        assert_eq!(key_part("/ecs/web#1"), "%2Fecs%2Fweb%231");
        let arn = group_arn("us-east-1", "1", "/g");
        assert_eq!(group_of_arn(&arn), Some("/g"));
        assert_eq!(group_of_arn(&format!("{arn}:*")), Some("/g"));
        assert_eq!(group_of(None, Some(&arn)).unwrap(), "/g");
    }
}

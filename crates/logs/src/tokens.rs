//! Paging tokens: opaque to clients, positions to Berth.

use crate::LogsError;

/// A position `(timestamp, seq)` with a direction prefix: `f/...` (forward) or `b/...` (backward) for
/// GetLogEvents, `e/...` for FilterLogEvents.
pub fn position(prefix: char, (timestamp, seq): (i64, u64)) -> String {
    format!("{prefix}/{timestamp:020}/{seq:020}")
}

/// Parses a position token; its prefix and position.
pub fn parse_position(token: &str) -> Result<(char, (i64, u64)), LogsError> {
    let bad = || LogsError::invalid(format!("The specified nextToken is invalid: {token}"));
    let mut parts = token.splitn(3, '/');
    let prefix = parts.next().and_then(|p| p.chars().next()).ok_or_else(bad)?;
    let timestamp = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let seq = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    Ok((prefix, (timestamp, seq)))
}

/// An offset token for Describe* paging.
pub fn offset(n: usize) -> String {
    format!("o/{n}")
}

/// Parses an offset token (absent: 0).
pub fn parse_offset(token: Option<&str>) -> Result<usize, LogsError> {
    match token {
        None => Ok(0),
        Some(t) => t
            .strip_prefix("o/")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| LogsError::invalid(format!("The specified nextToken is invalid: {t}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        assert_eq!(parse_position(&position('f', (-5, 7))).unwrap(), ('f', (-5, 7)));
        assert_eq!(parse_offset(Some(&offset(40))).unwrap(), 40);
        assert!(parse_position("garbage").is_err());
        assert!(parse_offset(Some("x")).is_err());
    }
}

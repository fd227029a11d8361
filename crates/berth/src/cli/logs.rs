//! `berth logs`: the awslogs output of a service's or a task's containers.

use clap::Args;

/// `berth logs [-f] SERVICE|TASK [--cluster C] [--since 10m] [--filter PATTERN]`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// A service name (or ARN) in the cluster, or a task id (or ARN).
    #[arg(value_name = "SERVICE|TASK")]
    pub target: String,
    /// The cluster (default: `default`).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Keep printing new events (polled every second) until Ctrl-C.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only events from this long ago (`30s`, `10m`, `2h`, `1d`, `1w`) or since this RFC 3339 time
    /// (`2026-11-29T14:00:00Z`); everything kept by default.
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Since>,
    /// Only events matching this CloudWatch Logs filter pattern (`error`, `"two words"`, `?a ?b`, `-x`,
    /// `{ $.level = "error" }`, `[ip, user, ...]`).
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
}

/// Where `--since` starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Since {
    /// This many milliseconds before now.
    Ago(i64),
    /// At this time, in milliseconds since the epoch.
    At(i64),
}

impl Since {
    /// The start time in milliseconds since the epoch, given the time now in milliseconds.
    pub fn start_millis(self, now_millis: i64) -> i64 {
        match self {
            Since::Ago(millis) => now_millis.saturating_sub(millis),
            Since::At(millis) => millis,
        }
    }
}

/// Reads `--since`: a whole number with a unit `s`, `m`, `h`, `d` or `w`, or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<Since, String> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    if !number.is_empty() && !unit.is_empty() && unit.len() == 1 {
        let seconds: i64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(since_error(text)),
        };
        let count: i64 = number.parse().map_err(|_| since_error(text))?;
        return count.checked_mul(seconds * 1000).map(Since::Ago).ok_or_else(|| since_error(text));
    }
    if text.contains('-') {
        return berth_api::protocol::query::parse_timestamp(text)
            .map(|seconds| Since::At((seconds * 1000.0).round() as i64))
            .ok_or_else(|| since_error(text));
    }
    Err(since_error(text))
}

fn since_error(text: &str) -> String {
    format!(
        "{text:?} is neither a duration such as 30s, 10m, 2h, 1d or 1w nor an RFC 3339 time such as 2026-11-29T14:00:00Z"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_are_read() {
        assert_eq!(parse_since("30s"), Ok(Since::Ago(30_000)));
        assert_eq!(parse_since("10m"), Ok(Since::Ago(600_000)));
        assert_eq!(parse_since("2h"), Ok(Since::Ago(7_200_000)));
        assert_eq!(parse_since("1w"), Ok(Since::Ago(604_800_000)));
        assert_eq!(parse_since("2026-11-29T14:00:00Z"), Ok(Since::At(1_795_960_800_000)));
        assert_eq!(parse_since("2026-11-29T15:00:00.5+01:00"), Ok(Since::At(1_795_960_800_500)));
        assert_eq!(Since::Ago(1000).start_millis(5000), 4000);
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "10", "m", "10x", "10mm", "-5m", "yesterday", "2026-13-01T00:00:00Z", "99999999999999999999s"] {
            let error = parse_since(bad).expect_err(bad);
            assert!(error.contains("neither a duration"), "{bad}: {error}");
        }
    }
}

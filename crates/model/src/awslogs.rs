//! The `awslogs` log driver's options, as a container definition's `logConfiguration.options` gives them, read
//! and checked the way Docker's awslogs driver and the ECS agent read them (AWS-NOTES §7).
//!
//! The checks return the driver's own wording, which ECS shows in a stopped container's reason after
//! `CannotStartContainerError: ... failed to initialize logging driver:`. What the options mean for delivery —
//! which group and stream, how lines join into multi-line events, whether a full buffer blocks the container or
//! drops lines — is decided here once, for the agent that ships the lines.

use std::collections::BTreeMap;
use std::time::Duration;

/// The largest `max-buffer-size` accepted (Docker accepts any size; Berth bounds what one container may pin).
pub const MAX_BUFFER_LIMIT: u64 = 1 << 30;
/// Docker's default ring buffer for non-blocking mode: 1 MiB.
pub const DEFAULT_MAX_BUFFER: u64 = 1 << 20;
/// How long a partial multi-line event or a small batch waits before it is sent (the driver's default).
pub const DEFAULT_FLUSH: Duration = Duration::from_secs(5);

/// Options the awslogs driver (with ECS's additions) knows; any other is refused, as Docker refuses it.
const KNOWN: [&str; 16] = [
    "awslogs-region",
    "awslogs-endpoint",
    "awslogs-group",
    "awslogs-create-group",
    "awslogs-stream",
    "awslogs-stream-prefix",
    "awslogs-datetime-format",
    "awslogs-multiline-pattern",
    "awslogs-credentials-endpoint",
    "awslogs-force-flush-interval-seconds",
    "awslogs-max-buffered-events",
    "awslogs-format",
    "awslogs-create-stream",
    "tag",
    "mode",
    "max-buffer-size",
];

/// What happens when the store cannot keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// The container's writes wait for the shipper (Docker's default, and ECS's before June 2025).
    Blocking,
    /// Lines wait in a ring buffer of this many bytes; when it is full the oldest are dropped.
    NonBlocking {
        /// The ring buffer's size in bytes.
        max_buffer_bytes: u64,
    },
}

/// How lines join into events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Multiline {
    /// Every line is an event.
    None,
    /// A line matching this regular expression (anchored at the line's start) starts a new event; other lines
    /// join the event before them.
    StartPattern(String),
}

/// A container's awslogs configuration, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLogsOptions {
    /// `awslogs-group`.
    pub group: String,
    /// `awslogs-create-group`: create the group when it is missing (else a missing group fails the container).
    pub create_group: bool,
    /// `awslogs-stream`, when given explicitly.
    pub stream: Option<String>,
    /// `awslogs-stream-prefix`: the stream is `prefix/container-name/task-id`.
    pub stream_prefix: Option<String>,
    /// How lines join into events.
    pub multiline: Multiline,
    /// Blocking or non-blocking delivery.
    pub mode: DeliveryMode,
    /// How long a partial event or batch waits before it is sent.
    pub flush_interval: Duration,
}

impl AwsLogsOptions {
    /// Reads the options of a container's `logConfiguration`; `region` is the region this Berth serves, which an
    /// `awslogs-region` must name (`None` skips that check: the agent reads options the control plane checked).
    /// Errors use the driver's wording.
    pub fn parse(options: &BTreeMap<String, String>, region: Option<&str>) -> Result<Self, String> {
        if let Some(unknown) = options.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("unknown log opt '{unknown}' for awslogs log driver"));
        }
        let get = |key: &str| options.get(key).map(String::as_str).filter(|v| !v.is_empty());
        let group = get("awslogs-group").ok_or("must specify a value for log opt 'awslogs-group'")?;
        if let (Some(wanted), Some(region)) = (get("awslogs-region"), region)
            && wanted != region
        {
            return Err(format!(
                "awslogs-region {wanted} is not the region this Berth serves ({region}); logs stay in Berth's own \
                 log store"
            ));
        }
        if get("awslogs-endpoint").is_some() || get("awslogs-credentials-endpoint").is_some() {
            return Err("awslogs-endpoint and awslogs-credentials-endpoint are not supported by Berth: the agent \
                        ships to the Berth server it is joined to"
                .into());
        }
        if get("awslogs-format").is_some_and(|f| f != "json/emf") {
            return Err("awslogs-format must be 'json/emf'".into());
        }
        let create_group = parse_bool(options, "awslogs-create-group")?;
        if get("awslogs-create-stream").is_some() {
            // Docker creates the stream unless told not to; the store creates streams on first write.
            parse_bool(options, "awslogs-create-stream")?;
        }
        let multiline = match (get("awslogs-datetime-format"), get("awslogs-multiline-pattern")) {
            (Some(_), Some(_)) => {
                return Err("you cannot configure log opt 'awslogs-datetime-format' and \
                            'awslogs-multiline-pattern' at the same time"
                    .into());
            }
            (Some(format), None) => Multiline::StartPattern(datetime_format_to_regex(format)?),
            (None, Some(pattern)) => Multiline::StartPattern(pattern.to_string()),
            (None, None) => Multiline::None,
        };
        let mode = match get("mode").unwrap_or("blocking") {
            "blocking" => {
                if get("max-buffer-size").is_some() {
                    return Err("max-buffer-size option is only supported with 'mode=non-blocking'".into());
                }
                DeliveryMode::Blocking
            }
            "non-blocking" => DeliveryMode::NonBlocking {
                max_buffer_bytes: match get("max-buffer-size") {
                    Some(size) => parse_size(size)?,
                    None => DEFAULT_MAX_BUFFER,
                },
            },
            other => return Err(format!("logger: logging mode not supported: {other}")),
        };
        let flush_interval = match get("awslogs-force-flush-interval-seconds") {
            Some(text) => match text.parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                _ => {
                    return Err(
                        "must specify a positive integer for log opt 'awslogs-force-flush-interval-seconds'".into()
                    );
                }
            },
            None => DEFAULT_FLUSH,
        };
        if let Some(text) = get("awslogs-max-buffered-events")
            && !text.parse::<u64>().is_ok_and(|n| n > 0)
        {
            return Err("must specify a positive integer for log opt 'awslogs-max-buffered-events'".into());
        }
        Ok(Self {
            group: group.to_string(),
            create_group,
            stream: get("awslogs-stream").map(str::to_string),
            stream_prefix: get("awslogs-stream-prefix").map(str::to_string),
            multiline,
            mode,
            flush_interval,
        })
    }

    /// The stream a container's lines go to: `awslogs-stream` if given, else `prefix/container-name/task-id` with a
    /// prefix, else the container's id (as Docker names it without one).
    pub fn stream_name(&self, container_name: &str, task_id: &str, container_id: &str) -> String {
        match (&self.stream, &self.stream_prefix) {
            (Some(stream), _) => stream.clone(),
            (None, Some(prefix)) => format!("{prefix}/{container_name}/{task_id}"),
            (None, None) => container_id.to_string(),
        }
    }
}

fn parse_bool(options: &BTreeMap<String, String>, key: &str) -> Result<bool, String> {
    match options.get(key).map(String::as_str) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(v) => Err(format!("invalid value '{v}' for log opt '{key}': must be true or false")),
    }
}

/// Reads a size as Docker does: a number with an optional unit (`k`, `m`, `g`, with or without `b`/`ib`; powers
/// of 1024), e.g. `4m`, `25MiB`, `1048576`.
fn parse_size(text: &str) -> Result<u64, String> {
    let invalid = || format!("invalid max-buffer-size '{text}': a size such as 4m, 512k or 1048576");
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let factor: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(invalid()),
    };
    let bytes = (number * factor as f64) as u64;
    if bytes == 0 {
        return Err(invalid());
    }
    if bytes > MAX_BUFFER_LIMIT {
        return Err(format!("max-buffer-size '{text}' is over Berth's limit of 1g"));
    }
    Ok(bytes)
}

/// Turns an `awslogs-datetime-format` (strftime directives, as the driver documents them) into a regular expression
/// that matches such a timestamp at the start of a line. Other characters match themselves.
pub fn datetime_format_to_regex(format: &str) -> Result<String, String> {
    let mut out = String::from("^");
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            push_literal(&mut out, c);
            continue;
        }
        let Some(directive) = chars.next() else {
            return Err(format!("awslogs-datetime-format '{format}' ends with a lone %"));
        };
        let piece = match directive {
            'a' => "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)",
            'A' => "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)",
            'b' => "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)",
            'B' => "(?:January|February|March|April|May|June|July|August|September|October|November|December)",
            'd' => "(?:0[1-9]|[12][0-9]|3[01])",
            'H' => "(?:[01][0-9]|2[0-3])",
            'I' => "(?:0[1-9]|1[0-2])",
            'j' => "(?:00[1-9]|0[1-9][0-9]|[12][0-9][0-9]|3[0-5][0-9]|36[0-6])",
            'L' => r"\.[0-9]{3}",
            'f' => "[0-9]{1,9}",
            'm' => "(?:0[1-9]|1[0-2])",
            'M' => "[0-5][0-9]",
            'p' => "[AP]M",
            'S' => "(?:[0-5][0-9]|60)",
            'U' | 'W' => "(?:[0-4][0-9]|5[0-3])",
            'w' => "[0-6]",
            'y' => "[0-9]{2}",
            'Y' => "[0-9]{4}",
            'z' => "[+-][0-9]{4}",
            'Z' => "[A-Z]{1,5}",
            '%' => "%",
            other => {
                return Err(format!("awslogs-datetime-format '{format}' has the unsupported directive %{other}"));
            }
        };
        out.push_str(piece);
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if "\\.+*?()|[]{}^$#&-~".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_ecs_shape_reads_with_its_defaults() {
        let o = AwsLogsOptions::parse(
            &opts(&[("awslogs-group", "/ecs/web"), ("awslogs-region", "us-east-1"), ("awslogs-stream-prefix", "ecs")]),
            Some("us-east-1"),
        )
        .unwrap();
        assert_eq!(o.group, "/ecs/web");
        assert!(!o.create_group);
        assert_eq!(o.mode, DeliveryMode::Blocking);
        assert_eq!(o.multiline, Multiline::None);
        assert_eq!(o.flush_interval, DEFAULT_FLUSH);
        assert_eq!(o.stream_name("app", "0123abcd", "c0ffee"), "ecs/app/0123abcd");
        let bare = AwsLogsOptions::parse(&opts(&[("awslogs-group", "g")]), Some("us-east-1")).unwrap();
        assert_eq!(bare.stream_name("app", "t", "c0ffee"), "c0ffee", "without a prefix: the container id");
    }

    #[test]
    fn modes_and_buffer_sizes() {
        let o = AwsLogsOptions::parse(
            &opts(&[("awslogs-group", "g"), ("mode", "non-blocking"), ("max-buffer-size", "4m")]),
            Some("r"),
        )
        .unwrap();
        assert_eq!(o.mode, DeliveryMode::NonBlocking { max_buffer_bytes: 4 << 20 });
        let o = AwsLogsOptions::parse(&opts(&[("awslogs-group", "g"), ("mode", "non-blocking")]), Some("r")).unwrap();
        assert_eq!(o.mode, DeliveryMode::NonBlocking { max_buffer_bytes: DEFAULT_MAX_BUFFER });
        for (size, bytes) in [("512k", 512 << 10), ("25MiB", 25 << 20), ("1048576", 1 << 20), ("1.5m", 3 << 19)] {
            assert_eq!(parse_size(size), Ok(bytes), "{size}");
        }
        for bad in ["", "m", "4x", "0", "2g"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_carry_the_drivers_wording() {
        let err = |pairs: &[(&str, &str)]| AwsLogsOptions::parse(&opts(pairs), Some("us-east-1")).unwrap_err();
        assert_eq!(err(&[("awslogs-region", "us-east-1")]), "must specify a value for log opt 'awslogs-group'");
        assert_eq!(
            err(&[("awslogs-group", "g"), ("awslogs-colour", "x")]),
            "unknown log opt 'awslogs-colour' for awslogs log driver"
        );
        assert!(
            err(&[("awslogs-group", "g"), ("awslogs-datetime-format", "%Y"), ("awslogs-multiline-pattern", "^x")])
                .contains("at the same time")
        );
        assert!(err(&[("awslogs-group", "g"), ("mode", "fast")]).contains("logging mode not supported"));
        assert!(
            err(&[("awslogs-group", "g"), ("max-buffer-size", "4m")])
                .contains("only supported with 'mode=non-blocking'")
        );
        assert!(
            err(&[("awslogs-group", "g"), ("awslogs-region", "eu-west-1")])
                .contains("not the region this Berth serves")
        );
        assert!(err(&[("awslogs-group", "g"), ("awslogs-create-group", "maybe")]).contains("must be true or false"));
        assert!(
            err(&[("awslogs-group", "g"), ("awslogs-force-flush-interval-seconds", "0")]).contains("positive integer")
        );
    }

    #[test]
    fn datetime_formats_become_anchored_patterns() {
        assert_eq!(
            datetime_format_to_regex("[%b %d, %Y %H:%M:%S]").unwrap(),
            r"^\[(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?:0[1-9]|[12][0-9]|3[01]), [0-9]{4} (?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)\]"
        );
        assert_eq!(datetime_format_to_regex("%Y-%m-%dT%H:%M:%S%L%z").unwrap().matches("[0-9]{4}").count(), 2);
        assert!(datetime_format_to_regex("%Q").unwrap_err().contains("%Q"));
        assert!(datetime_format_to_regex("%").is_err());
        let o =
            AwsLogsOptions::parse(&opts(&[("awslogs-group", "g"), ("awslogs-datetime-format", "%Y-%m-%d")]), Some("r"))
                .unwrap();
        assert!(matches!(o.multiline, Multiline::StartPattern(ref p) if p.starts_with('^')));
    }
}

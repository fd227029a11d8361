//! The binary's own log (`tracing_subscriber` on standard error): text, with colour only on a terminal and without
//! `NO_COLOR`, or JSON lines (`--log-format json`); repeated warnings and errors are rate-limited
//! ([`format::RateLimited`]) so a cause that fires every second shows once per window with a count.

mod format;
mod repeats;

use std::time::Duration;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Whether log lines may carry colour codes: only on a terminal, and never with `NO_COLOR` set to anything but the
/// empty string (no-color.org). A log written to a file or a pipe stays plain text.
pub fn colour_wanted(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber: `RUST_LOG`'s filter or `default_level`, in `format`, each repeated warning or
/// error written at most once per `repeat_window` (zero: all of them).
pub fn init(format: LogFormat, default_level: &str, repeat_window: Duration) {
    use tracing_subscriber::fmt::format as f;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let repeats = repeats::Repeats::new(repeat_window);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let colour =
                colour_wanted(std::io::IsTerminal::is_terminal(&std::io::stderr()), std::env::var_os("NO_COLOR"));
            builder
                .with_ansi(colour)
                .event_format(format::RateLimited::new(f::format().with_ansi(colour), false, repeats))
                .init();
        }
        LogFormat::Json => {
            builder
                .with_ansi(false)
                .fmt_fields(f::JsonFields::new())
                .event_format(format::RateLimited::new(f::format().json(), true, repeats))
                .init();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::colour_wanted;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_wanted(true, None));
        assert!(!colour_wanted(false, None), "a file or a pipe gets plain text");
        assert!(!colour_wanted(true, Some("1".into())));
        assert!(colour_wanted(true, Some("".into())), "an empty NO_COLOR does not count");
    }
}

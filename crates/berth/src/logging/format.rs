//! An event formatter that rate-limits repeated warnings and errors around another formatter (text or JSON):
//! events are keyed by their call site and the values of their fields, so "the same warning" means the same line
//! of code saying the same thing. A line written after some were dropped carries the count: ` (repeated K times)`
//! at the end of a text line, a `"repeated": K` member in a JSON line.

use super::repeats::{Repeats, Verdict};
use berth_model::clock::{Clock, SystemClock};
use std::fmt::Write as _;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Wraps `inner`, writing each repeated warning or error at most once per window.
pub struct RateLimited<F> {
    inner: F,
    json: bool,
    repeats: Mutex<Repeats>,
}

impl<F> RateLimited<F> {
    /// `inner` rate-limited by `repeats`; `json` when `inner` writes JSON lines.
    pub fn new(inner: F, json: bool, repeats: Repeats) -> Self {
        Self { inner, json, repeats: Mutex::new(repeats) }
    }
}

/// The key of an event: its call site and its fields' values.
fn key(event: &Event<'_>) -> String {
    struct Fields(String);
    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, "{}={:?};", field.name(), value);
        }
    }
    let mut fields = Fields(format!("{:?};", event.metadata().callsite()));
    event.record(&mut fields);
    fields.0
}

/// `line` (one formatted event ending in a newline) with the repeat count added.
pub fn with_count(line: &str, repeated: u64, json: bool) -> String {
    let body = line.strip_suffix('\n').unwrap_or(line);
    if json && let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str::<serde_json::Value>(body) {
        object.insert("repeated".into(), repeated.into());
        return format!("{}\n", serde_json::Value::Object(object));
    }
    format!("{body} (repeated {repeated} times)\n")
}

impl<S, N, F> FormatEvent<S, N> for RateLimited<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        if *event.metadata().level() > Level::WARN {
            return self.inner.format_event(ctx, writer, event);
        }
        let verdict = match self.repeats.lock() {
            Ok(mut repeats) => repeats.check(&key(event), SystemClock.monotonic()),
            Err(_) => Verdict::Write { repeated: 0 },
        };
        match verdict {
            Verdict::Drop => Ok(()),
            Verdict::Write { repeated: 0 } => self.inner.format_event(ctx, writer, event),
            Verdict::Write { repeated } => {
                // Formatted apart (without colour) to add the count at the end of the line.
                let mut line = String::new();
                self.inner.format_event(ctx, Writer::new(&mut line), event)?;
                writer.write_str(&with_count(&line, repeated, self.json))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_ends_a_text_line_and_is_a_member_of_a_json_line() {
        assert_eq!(with_count("WARN x: boom\n", 3, false), "WARN x: boom (repeated 3 times)\n");
        let json = with_count("{\"level\":\"WARN\",\"fields\":{\"message\":\"boom\"}}\n", 2, true);
        let value: serde_json::Value = serde_json::from_str(json.trim_end()).expect("JSON");
        assert_eq!(value["repeated"], 2);
        assert_eq!(value["fields"]["message"], "boom");
        assert!(json.ends_with("}\n"));
    }
}

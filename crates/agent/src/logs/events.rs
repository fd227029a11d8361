//! A container's output lines into log events: single lines, or multi-line events that begin at a line matching
//! the start pattern. Times are the lines' own (Docker's timestamps), so a pending event is flushed by the time of
//! later lines or by [`Grouper::flush_due`] with the agent's clock.

use berth_model::awslogs::Multiline;
use regex::Regex;

/// The largest message of one event, in bytes: 1 MiB less the 26 bytes CloudWatch Logs counts per event.
pub const MAX_MESSAGE_BYTES: usize = 1_048_576 - 26;

/// One log event: its time (milliseconds since the epoch, as CloudWatch Logs keeps it) and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Milliseconds since the epoch: the time of the event's first line.
    pub timestamp_ms: i64,
    /// The message, without the final newline; the lines of a multi-line event are joined by `\n`.
    pub message: String,
}

impl Event {
    /// The bytes CloudWatch Logs counts for this event in a batch.
    pub fn batch_bytes(&self) -> usize {
        self.message.len() + 26
    }
}

/// Groups lines into events.
#[derive(Debug)]
pub struct Grouper {
    start: Option<Regex>,
    flush_after_ms: i64,
    pending: Option<Event>,
    /// When the pending event last grew (milliseconds), for the flush interval.
    pending_since_ms: i64,
}

impl Grouper {
    /// A grouper for `multiline` that sends a pending multi-line event once no line joined it for `flush_after`.
    /// A start pattern that is not a valid regular expression is an error in the driver's words.
    pub fn new(multiline: &Multiline, flush_after: std::time::Duration) -> Result<Self, String> {
        let start = match multiline {
            Multiline::None => None,
            Multiline::StartPattern(pattern) => {
                let anchored = if pattern.starts_with('^') { pattern.clone() } else { format!("^(?:{pattern})") };
                Some(
                    Regex::new(&anchored)
                        .map_err(|e| format!("awslogs multiline pattern '{pattern}' is invalid: {e}"))?,
                )
            }
        };
        let flush_after_ms = i64::try_from(flush_after.as_millis()).unwrap_or(i64::MAX);
        Ok(Self { start, flush_after_ms, pending: None, pending_since_ms: 0 })
    }

    /// Adds one line (without its newline) written at `timestamp_ms`; returns the events it completes, oldest first.
    pub fn push(&mut self, line: &str, timestamp_ms: i64) -> Vec<Event> {
        let mut out = Vec::new();
        let Some(start) = &self.start else {
            split_into(&mut out, line, timestamp_ms);
            return out;
        };
        let begins = start.is_match(line);
        let stale = self.pending.is_some() && timestamp_ms - self.pending_since_ms >= self.flush_after_ms;
        match self.pending.as_mut() {
            Some(pending) if !begins && !stale && pending.message.len() + 1 + line.len() <= MAX_MESSAGE_BYTES => {
                pending.message.push('\n');
                pending.message.push_str(line);
                self.pending_since_ms = timestamp_ms;
            }
            _ => {
                out.extend(self.pending.take());
                let mut parts = Vec::new();
                split_into(&mut parts, line, timestamp_ms);
                // The last piece may still gather the lines after it.
                self.pending = parts.pop();
                out.extend(parts);
                self.pending_since_ms = timestamp_ms;
            }
        }
        out
    }

    /// The pending multi-line event, if it has waited the flush interval by `now_ms`.
    pub fn flush_due(&mut self, now_ms: i64) -> Option<Event> {
        if self.pending.is_some() && now_ms - self.pending_since_ms >= self.flush_after_ms {
            return self.pending.take();
        }
        None
    }

    /// The pending event, whatever its age (the container stopped).
    pub fn finish(&mut self) -> Option<Event> {
        self.pending.take()
    }
}

/// Pushes `line` as events of at most [`MAX_MESSAGE_BYTES`], split on character boundaries.
fn split_into(out: &mut Vec<Event>, line: &str, timestamp_ms: i64) {
    let mut rest = line;
    loop {
        if rest.len() <= MAX_MESSAGE_BYTES {
            out.push(Event { timestamp_ms, message: rest.to_string() });
            return;
        }
        let mut cut = MAX_MESSAGE_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(Event { timestamp_ms, message: rest[..cut].to_string() });
        rest = &rest[cut..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn messages(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.message.as_str()).collect()
    }

    #[test]
    fn without_a_pattern_every_line_is_an_event() {
        let mut g = Grouper::new(&Multiline::None, Duration::from_secs(5)).unwrap();
        assert_eq!(messages(&g.push("one", 1)), ["one"]);
        assert_eq!(messages(&g.push("", 2)), [""]);
        assert_eq!(g.finish(), None);
    }

    #[test]
    fn a_stack_trace_joins_the_line_that_started_it() {
        let start = berth_model::awslogs::datetime_format_to_regex("%Y-%m-%d %H:%M:%S").unwrap();
        let mut g = Grouper::new(&Multiline::StartPattern(start), Duration::from_secs(5)).unwrap();
        assert!(g.push("2026-11-29 10:00:00 ERROR boom", 1_000).is_empty());
        assert!(g.push("  at main.rs:1", 1_001).is_empty());
        assert!(g.push("  at lib.rs:9", 1_002).is_empty());
        let done = g.push("2026-11-29 10:00:01 INFO next", 1_500);
        assert_eq!(messages(&done), ["2026-11-29 10:00:00 ERROR boom\n  at main.rs:1\n  at lib.rs:9"]);
        assert_eq!(done[0].timestamp_ms, 1_000, "an event keeps the time of its first line");
        assert_eq!(g.finish().unwrap().message, "2026-11-29 10:00:01 INFO next");
    }

    #[test]
    fn a_pending_event_is_sent_after_the_flush_interval() {
        let mut g = Grouper::new(&Multiline::StartPattern("^START".into()), Duration::from_secs(5)).unwrap();
        g.push("START a", 0);
        g.push("more", 1_000);
        assert_eq!(g.flush_due(5_999), None, "5 s after the last line, not the first");
        assert_eq!(g.flush_due(6_000).unwrap().message, "START a\nmore");
        // A line arriving after the interval starts afresh even without the pattern.
        g.push("START b", 10_000);
        let done = g.push("late", 16_000);
        assert_eq!(messages(&done), ["START b"]);
        assert_eq!(g.finish().unwrap().message, "late");
    }

    #[test]
    fn lines_before_any_start_line_are_events_too() {
        let mut g = Grouper::new(&Multiline::StartPattern("^\\[".into()), Duration::from_secs(5)).unwrap();
        assert!(g.push("preamble", 0).is_empty());
        assert_eq!(messages(&g.push("[1] first", 1)), ["preamble"]);
    }

    #[test]
    fn overlong_lines_are_split_at_the_event_limit_on_character_boundaries() {
        let line = "é".repeat(MAX_MESSAGE_BYTES / 2 + 10); // 2 bytes each: longer than one event
        let mut g = Grouper::new(&Multiline::None, Duration::from_secs(5)).unwrap();
        let events = g.push(&line, 7);
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.message.len() <= MAX_MESSAGE_BYTES && e.timestamp_ms == 7));
        assert_eq!(events.iter().map(|e| e.message.as_str()).collect::<String>(), line);
    }

    #[test]
    fn an_invalid_pattern_is_refused_in_words() {
        let err = Grouper::new(&Multiline::StartPattern("(".into()), Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("awslogs multiline pattern '(' is invalid"), "{err}");
    }
}

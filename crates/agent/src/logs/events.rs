//! A container's output lines into log events: single lines, or multi-line events that begin at a line matching
//! the start pattern. Times are the lines' own (Docker's timestamps), so a pending event is flushed by the time of
//! later lines or by [`Grouper::flush_due`] with the agent's clock.

use berth_model::awslogs::Multiline;
use regex::Regex;

/// The largest message of one event, in bytes: 1 MiB less the 26 bytes CloudWatch Logs counts per event.
pub const MAX_MESSAGE_BYTES: usize = 1_048_576 - 26;

/// One log event: its time (milliseconds since the epoch, as CloudWatch Logs keeps it) and its message, with where
/// it ends in the container's log (for the checkpoint) and how many bytes the container wrote for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// Milliseconds since the epoch: the time of the event's first line.
    pub timestamp_ms: i64,
    /// The message, without the final newline; the lines of a multi-line event are joined by `\n`.
    pub message: String,
    /// The index of the log entry that ends the event's last line ([`super::cursor::Cursor::read`]); `None` for
    /// the leading pieces of a line split at the size limit, whose delivery completes no line.
    pub end: Option<u64>,
    /// The bytes the container wrote for the event (its lines with their newlines), for blocking mode's pacing.
    pub written_bytes: usize,
}

/// One line of a container's output, assembled from the engine's log entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When it was written, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Its text, without the newline (and without a carriage return before it).
    pub text: String,
    /// The index of its last log entry.
    pub end: u64,
    /// The bytes written for it, newline included.
    pub written_bytes: usize,
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

    /// Adds one line; returns the events it completes, oldest first.
    pub fn push(&mut self, line: &Line) -> Vec<Event> {
        let mut out = Vec::new();
        let timestamp_ms = line.timestamp_ms;
        let Some(start) = &self.start else {
            split_into(&mut out, line);
            return out;
        };
        let begins = start.is_match(&line.text);
        let stale = self.pending.is_some() && timestamp_ms - self.pending_since_ms >= self.flush_after_ms;
        match self.pending.as_mut() {
            Some(pending) if !begins && !stale && pending.message.len() + 1 + line.text.len() <= MAX_MESSAGE_BYTES => {
                pending.message.push('\n');
                pending.message.push_str(&line.text);
                pending.end = Some(line.end);
                pending.written_bytes += line.written_bytes;
                self.pending_since_ms = timestamp_ms;
            }
            _ => {
                out.extend(self.pending.take());
                let mut parts = Vec::new();
                split_into(&mut parts, line);
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

/// Pushes `line` as events of at most [`MAX_MESSAGE_BYTES`], split on character boundaries; the last piece
/// carries the line's end and its written bytes.
fn split_into(out: &mut Vec<Event>, line: &Line) {
    let timestamp_ms = line.timestamp_ms;
    let mut rest = line.text.as_str();
    loop {
        if rest.len() <= MAX_MESSAGE_BYTES {
            out.push(Event {
                timestamp_ms,
                message: rest.to_string(),
                end: Some(line.end),
                written_bytes: line.written_bytes,
            });
            return;
        }
        let mut cut = MAX_MESSAGE_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(Event { timestamp_ms, message: rest[..cut].to_string(), end: None, written_bytes: 0 });
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

    fn line(text: &str, timestamp_ms: i64) -> Line {
        Line { timestamp_ms, text: text.to_string(), end: timestamp_ms as u64, written_bytes: text.len() + 1 }
    }

    #[test]
    fn without_a_pattern_every_line_is_an_event() {
        let mut g = Grouper::new(&Multiline::None, Duration::from_secs(5)).unwrap();
        assert_eq!(messages(&g.push(&line("one", 1))), ["one"]);
        assert_eq!(messages(&g.push(&line("", 2))), [""]);
        assert_eq!(g.finish(), None);
    }

    #[test]
    fn a_stack_trace_joins_the_line_that_started_it() {
        let start = berth_model::awslogs::datetime_format_to_regex("%Y-%m-%d %H:%M:%S").unwrap();
        let mut g = Grouper::new(&Multiline::StartPattern(start), Duration::from_secs(5)).unwrap();
        assert!(g.push(&line("2026-11-29 10:00:00 ERROR boom", 1_000)).is_empty());
        assert!(g.push(&line("  at main.rs:1", 1_001)).is_empty());
        assert!(g.push(&line("  at lib.rs:9", 1_002)).is_empty());
        let done = g.push(&line("2026-11-29 10:00:01 INFO next", 1_500));
        assert_eq!(messages(&done), ["2026-11-29 10:00:00 ERROR boom\n  at main.rs:1\n  at lib.rs:9"]);
        assert_eq!(done[0].timestamp_ms, 1_000, "an event keeps the time of its first line");
        assert_eq!(done[0].end, Some(1_002), "and ends where its last line does");
        assert_eq!(g.finish().unwrap().message, "2026-11-29 10:00:01 INFO next");
    }

    #[test]
    fn a_pending_event_is_sent_after_the_flush_interval() {
        let mut g = Grouper::new(&Multiline::StartPattern("^START".into()), Duration::from_secs(5)).unwrap();
        g.push(&line("START a", 0));
        g.push(&line("more", 1_000));
        assert_eq!(g.flush_due(5_999), None, "5 s after the last line, not the first");
        assert_eq!(g.flush_due(6_000).unwrap().message, "START a\nmore");
        // A line arriving after the interval starts afresh even without the pattern.
        g.push(&line("START b", 10_000));
        let done = g.push(&line("late", 16_000));
        assert_eq!(messages(&done), ["START b"]);
        assert_eq!(g.finish().unwrap().message, "late");
    }

    #[test]
    fn lines_before_any_start_line_are_events_too() {
        let mut g = Grouper::new(&Multiline::StartPattern("^\\[".into()), Duration::from_secs(5)).unwrap();
        assert!(g.push(&line("preamble", 0)).is_empty());
        assert_eq!(messages(&g.push(&line("[1] first", 1))), ["preamble"]);
    }

    #[test]
    fn overlong_lines_are_split_at_the_event_limit_on_character_boundaries() {
        let line = "é".repeat(MAX_MESSAGE_BYTES / 2 + 10); // 2 bytes each: longer than one event
        let mut g = Grouper::new(&Multiline::None, Duration::from_secs(5)).unwrap();
        let events = g.push(&Line { timestamp_ms: 7, text: line.clone(), end: 3, written_bytes: line.len() + 1 });
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.message.len() <= MAX_MESSAGE_BYTES && e.timestamp_ms == 7));
        assert_eq!(events.iter().map(|e| e.message.as_str()).collect::<String>(), line);
        assert_eq!((events[0].end, events[1].end), (None, Some(3)), "only the last piece completes the line");
    }

    #[test]
    fn an_invalid_pattern_is_refused_in_words() {
        let err = Grouper::new(&Multiline::StartPattern("(".into()), Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("awslogs multiline pattern '(' is invalid"), "{err}");
    }
}

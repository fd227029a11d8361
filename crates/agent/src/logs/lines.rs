//! The engine's log entries back into the lines the container wrote: the engine splits a line of over 16 KiB
//! into several entries, only the last of which ends with a newline; stdout and stderr are joined separately.

use super::events::Line;
use crate::runtime::LogEntry;

/// A line that never ends is cut into lines of this many bytes, so one runaway writer cannot grow the agent.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The beginning of a line, waiting for the entry that ends it.
#[derive(Debug)]
struct Partial {
    timestamp_ns: i64,
    bytes: Vec<u8>,
}

/// Joins log entries into lines.
#[derive(Debug, Default)]
pub struct Assembler {
    /// Per stream: stdout, stderr.
    partial: [Option<Partial>; 2],
}

impl Assembler {
    /// Adds the entry numbered `index`; the line it completes, if any.
    pub fn push(&mut self, entry: &LogEntry, index: u64) -> Option<Line> {
        let slot = &mut self.partial[usize::from(entry.stderr)];
        let ends = entry.bytes.last() == Some(&b'\n');
        let partial = slot.get_or_insert_with(|| Partial { timestamp_ns: entry.timestamp_ns, bytes: Vec::new() });
        partial.bytes.extend_from_slice(&entry.bytes);
        if ends || partial.bytes.len() >= MAX_LINE_BYTES {
            return slot.take().map(|p| line(p, index));
        }
        None
    }

    /// Whether a line is waiting for its end.
    pub fn is_empty(&self) -> bool {
        self.partial.iter().all(Option::is_none)
    }

    /// The lines left without an end (the container stopped mid-line), as lines ending at entry `index`.
    pub fn finish(&mut self, index: u64) -> Vec<Line> {
        let mut out: Vec<Line> = self.partial.iter_mut().filter_map(Option::take).map(|p| line(p, index)).collect();
        out.sort_by_key(|l| l.timestamp_ms);
        out
    }
}

fn line(partial: Partial, end: u64) -> Line {
    let written_bytes = partial.bytes.len();
    let mut text = String::from_utf8_lossy(&partial.bytes).into_owned();
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Line { timestamp_ms: partial.timestamp_ns.div_euclid(1_000_000), text, end, written_bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ns: i64, stderr: bool, text: &str) -> LogEntry {
        LogEntry { timestamp_ns: ns, stderr, bytes: bytes::Bytes::copy_from_slice(text.as_bytes()) }
    }

    #[test]
    fn whole_lines_pass_through_without_their_newline() {
        let mut a = Assembler::default();
        let l = a.push(&entry(5_000_000, false, "hello\n"), 0).unwrap();
        assert_eq!((l.timestamp_ms, l.text.as_str(), l.end, l.written_bytes), (5, "hello", 0, 6));
        assert_eq!(a.push(&entry(6_000_000, true, "crlf\r\n"), 1).unwrap().text, "crlf");
        assert!(a.is_empty());
    }

    #[test]
    fn pieces_of_a_long_line_join_per_stream_with_the_first_piece_time() {
        let mut a = Assembler::default();
        assert_eq!(a.push(&entry(1_000_000, false, "abc"), 0), None);
        let err = a.push(&entry(2_000_000, true, "interleaved\n"), 1).unwrap();
        assert_eq!(err.text, "interleaved");
        let out = a.push(&entry(3_000_000, false, "def\n"), 2).unwrap();
        assert_eq!((out.text.as_str(), out.timestamp_ms, out.end, out.written_bytes), ("abcdef", 1, 2, 7));
    }

    #[test]
    fn an_unfinished_line_is_kept_at_the_end() {
        let mut a = Assembler::default();
        assert_eq!(a.push(&entry(1_000_000, false, "no newline"), 0), None);
        assert!(!a.is_empty());
        let rest = a.finish(0);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].text, "no newline");
        assert!(a.is_empty());
    }

    #[test]
    fn a_line_that_never_ends_is_cut() {
        let mut a = Assembler::default();
        let piece = "x".repeat(16 * 1024);
        let mut cut = None;
        for i in 0..100 {
            if let Some(line) = a.push(&entry(i, false, &piece), i as u64) {
                cut = Some(line);
                break;
            }
        }
        assert_eq!(cut.unwrap().text.len(), MAX_LINE_BYTES);
    }
}

//! FilterLogEvents' scan of a group: whole segments searched at memory speed, answered in time order.
//!
//! Events are stored in segments in write order, and each segment knows the span of its timestamps. Segments whose
//! spans overlap form a *window*; consecutive windows never overlap in time, so answering window after window,
//! each sorted by position `(timestamp, seq)`, is answering in time order. Within a window every segment's bytes are
//! searched whole: when the pattern names a literal every match must contain (a text term), `memchr::memmem` finds
//! its occurrences in the segment and only the frames around them are decoded; the other frames are skipped by their
//! length headers. A pattern without such a literal decodes every frame. A window keeps at most the `limit` smallest
//! positions it matched, so memory stays bounded however large a window is; the next call resumes after the last
//! event returned and finds the rest.
//!
//! A call stops at a window boundary once it has searched [`SCAN_BUDGET_BYTES`] or decoded
//! [`SCAN_BUDGET_EVENTS`] events, with a token after that window, so a rare pattern over a large group answers
//! in bounded time and the client pages on.

use super::group::GroupLog;
use super::{EventStoreError, LogEvent, Position, Range, lock};
use crate::segment;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::Path;
use std::sync::Mutex;

/// A call searches at most about this many segment bytes (it finishes the window it is in).
pub const SCAN_BUDGET_BYTES: u64 = 512 * 1024 * 1024;

/// A call decodes at most about this many events (it finishes the window it is in).
pub const SCAN_BUDGET_EVENTS: usize = 250_000;

/// What a filter wants.
pub struct FilterQuery<'a> {
    /// Which streams (by name).
    pub wanted: &'a (dyn Fn(&str) -> bool + Sync),
    /// Which positions.
    pub range: Range,
    /// Which messages.
    pub keep: &'a (dyn Fn(&str) -> bool + Sync),
    /// Bytes every message `keep` accepts contains, as they appear in a stored record (see
    /// [`crate::pattern::Pattern::required_literal`]); `None` when the pattern names none.
    pub literal: Option<&'a [u8]>,
    /// At most this many events.
    pub limit: usize,
    /// At most about this many bytes of messages (26 more an event, as AWS counts); one event always fits.
    pub max_bytes: usize,
}

/// A segment taking part in a scan.
#[derive(Debug, Clone, Copy)]
struct Part {
    id: u32,
    min: i64,
    max: i64,
    bytes: u64,
}

/// A matched event, ordered by its position only.
struct Found(LogEvent);

impl PartialEq for Found {
    fn eq(&self, other: &Self) -> bool {
        self.0.position() == other.0.position()
    }
}
impl Eq for Found {}
impl PartialOrd for Found {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Found {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.position().cmp(&other.0.position())
    }
}

/// Whether a segment whose timestamps span `min..=max` may hold a position the range admits.
fn may_hold(range: &Range, min: i64, max: i64) -> bool {
    range.start.is_none_or(|s| max >= s)
        && range.end.is_none_or(|e| min < e)
        && range.after.is_none_or(|a| (max, u64::MAX) > a)
        && range.before.is_none_or(|b| (min, 0) < b)
}

/// The segments that may hold admitted events, grouped into windows of overlapping time spans, in time order.
fn windows(log: &GroupLog, range: &Range) -> Vec<Vec<Part>> {
    let mut parts: Vec<Part> = log
        .segments
        .iter()
        .filter(|(_, info)| info.bytes > 0 && may_hold(range, info.min_timestamp, info.max_timestamp))
        .map(|(id, info)| Part { id: *id, min: info.min_timestamp, max: info.max_timestamp, bytes: info.bytes })
        .collect();
    parts.sort_by_key(|p| (p.min, p.id));
    let mut out: Vec<Vec<Part>> = Vec::new();
    let mut window_max = i64::MIN;
    for part in parts {
        match out.last_mut() {
            Some(window) if part.min <= window_max => {
                window.push(part);
                window_max = window_max.max(part.max);
            }
            _ => {
                out.push(vec![part]);
                window_max = part.max;
            }
        }
    }
    out
}

/// What scanning a segment did.
#[derive(Debug, Default, Clone, Copy)]
struct Scanned {
    /// Frames decoded.
    decoded: usize,
    /// Some admitted events beyond the `keep_at_most` smallest positions were left out (matching or not).
    overflowed: bool,
}

/// What a scan needs of its group besides the segments' bytes.
struct Context<'a> {
    query: &'a FilterQuery<'a>,
    finder: Option<memchr::memmem::Finder<'a>>,
    /// Streams deleted, with the sequence number below which their events are gone.
    tombstones: BTreeMap<String, u64>,
    dir: std::path::PathBuf,
}

/// Matches of one segment's bytes pushed into `heap`, which keeps the `keep_at_most` smallest positions.
fn scan_segment(
    cx: &Context<'_>,
    id: u32,
    sealed: bool,
    bytes: &[u8],
    heap: &mut BinaryHeap<Found>,
    keep_at_most: usize,
) -> Result<Scanned, EventStoreError> {
    let (query, finder) = (cx.query, cx.finder.as_ref());
    let mut scanned = Scanned::default();
    let mut at = 0;
    // The next occurrence of the literal at or after `at` (`usize::MAX`: none left); without a literal, 0: every
    // frame is a candidate.
    let mut next_hit = match finder {
        Some(f) => f.find(bytes).unwrap_or(usize::MAX),
        None => 0,
    };
    while next_hit != usize::MAX {
        let Some(end) = segment::frame_end(bytes, at) else { break };
        let frame = &bytes[at..end];
        at = end;
        if next_hit >= end {
            continue;
        }
        if let Some(f) = finder {
            next_hit = f.find(&bytes[end..]).map_or(usize::MAX, |h| end + h);
        }
        scanned.decoded += 1;
        let Some(record) = segment::decode(frame) else {
            if !sealed {
                // The open file was read without the group's lock: a frame being appended ends the scan of it.
                break;
            }
            return Err(EventStoreError {
                context: format!("segment {id} in {}", cx.dir.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "a record failed its checksum"),
            });
        };
        let pos = (record.timestamp, record.seq);
        if !query.range.admits_position(pos)
            || cx.tombstones.get(&record.stream).is_some_and(|below| record.seq < *below)
            || !(query.wanted)(&record.stream)
        {
            continue;
        }
        if heap.len() >= keep_at_most && heap.peek().is_some_and(|top| top.0.position() < pos) {
            scanned.overflowed = true;
            continue;
        }
        if !(query.keep)(&record.message) {
            continue;
        }
        heap.push(Found(LogEvent {
            stream: record.stream,
            timestamp: record.timestamp,
            ingestion_time: record.ingestion_time,
            seq: record.seq,
            message: record.message,
        }));
        if heap.len() > keep_at_most {
            heap.pop();
            scanned.overflowed = true;
        }
    }
    Ok(scanned)
}

/// Reads segment `id`'s bytes into `buffer` without holding the group's lock: a seal or a compaction may replace
/// its file between the lookup and the read, so a vanished file is looked up again. `Ok(None)`: the group no
/// longer has the segment (compaction emptied it); else whether it is sealed.
fn fetch(log: &Mutex<GroupLog>, dir: &Path, id: u32, buffer: &mut Vec<u8>) -> Result<Option<bool>, EventStoreError> {
    for _ in 0..8 {
        let Some(generation) = lock(log).generation_of(id) else { return Ok(None) };
        match segment::read_bytes_into(dir, id, generation, buffer) {
            Ok(()) => return Ok(Some(generation.is_some())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(EventStoreError { context: format!("reading segment {id} in {}", dir.display()), source });
            }
        }
    }
    Err(EventStoreError {
        context: format!("reading segment {id} in {}", dir.display()),
        source: std::io::Error::other("its file was replaced on every attempt"),
    })
}

/// One segment's matches.
struct PartResult {
    window: usize,
    heap: BinaryHeap<Found>,
    scanned: Scanned,
    bytes: u64,
}

/// Scans a batch of segments, one a thread (inline for a batch of one).
fn scan_batch(
    log: &Mutex<GroupLog>,
    cx: &Context<'_>,
    batch: &[(usize, Part)],
    buffers: &mut [Vec<u8>],
    room: usize,
) -> Result<Vec<PartResult>, EventStoreError> {
    let one = |(window, part): (usize, Part), buffer: &mut Vec<u8>| -> Result<PartResult, EventStoreError> {
        let mut heap = BinaryHeap::new();
        let scanned = match fetch(log, &cx.dir, part.id, buffer)? {
            Some(sealed) => scan_segment(cx, part.id, sealed, buffer, &mut heap, room)?,
            None => Scanned::default(),
        };
        Ok(PartResult { window, heap, scanned, bytes: part.bytes })
    };
    if batch.len() == 1 {
        return Ok(vec![one(batch[0], &mut buffers[0])?]);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .iter()
            .zip(buffers.iter_mut())
            .map(|(item, buffer)| scope.spawn(move || one(*item, buffer)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(EventStoreError {
                        context: format!("scanning {}", cx.dir.display()),
                        source: std::io::Error::other("a scan thread panicked"),
                    })
                })
            })
            .collect()
    })
}

/// How many segments a filter scans at once: one a core, at most four.
fn scan_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
}

/// Events the query matches, in time order, and a position to resume after when the call stopped early. The
/// group is locked only to list its segments and to look up each one's file; segments are read, decompressed and
/// searched outside the lock, one a core, so appends go on during a long scan.
pub(super) fn filter(
    log: &Mutex<GroupLog>,
    query: &FilterQuery<'_>,
) -> Result<(Vec<LogEvent>, Option<Position>), EventStoreError> {
    let (windows, cx) = {
        let log = lock(log);
        let cx = Context {
            query,
            finder: query.literal.filter(|l| !l.is_empty()).map(memchr::memmem::Finder::new),
            tombstones: log.tombstones.clone(),
            dir: log.dir.clone(),
        };
        (windows(&log, &query.range), cx)
    };
    let parts: Vec<(usize, Part)> =
        windows.iter().enumerate().flat_map(|(w, parts)| parts.iter().map(move |p| (w, *p))).collect();
    let threads = scan_threads();
    let mut buffers: Vec<Vec<u8>> = (0..threads).map(|_| Vec::new()).collect();
    let limit = query.limit.max(1);
    let mut out: Vec<LogEvent> = Vec::new();
    let (mut bytes_out, mut searched, mut decoded) = (0usize, 0u64, 0usize);
    // Per window: its matches so far (the `limit` smallest), whether some were left out, and parts scanned.
    let mut found: Vec<(BinaryHeap<Found>, bool, usize)> =
        windows.iter().map(|_| (BinaryHeap::new(), false, 0)).collect();
    let mut scanned_up_to = 0;
    for (w, window) in windows.iter().enumerate() {
        while found[w].2 < window.len() {
            let batch = &parts[scanned_up_to..(scanned_up_to + threads).min(parts.len())];
            scanned_up_to += batch.len();
            let room = limit - out.len();
            for result in scan_batch(log, &cx, batch, &mut buffers, room)? {
                decoded += result.scanned.decoded;
                searched += result.bytes;
                let (heap, overflowed, done) = &mut found[result.window];
                *overflowed |= result.scanned.overflowed;
                *done += 1;
                for event in result.heap {
                    heap.push(event);
                    if heap.len() > room {
                        heap.pop();
                        *overflowed = true;
                    }
                }
            }
        }
        let (heap, overflowed, _) = std::mem::take(&mut found[w]);
        let more_windows = w + 1 < windows.len();
        let mut sorted = heap.into_sorted_vec().into_iter();
        for Found(event) in sorted.by_ref() {
            if out.len() >= limit || bytes_out >= query.max_bytes && !out.is_empty() {
                let last = out.last().map(LogEvent::position);
                return Ok((out, last));
            }
            bytes_out += event.message.len() + 26;
            out.push(event);
        }
        if out.len() >= limit {
            // More may match in this window (it kept only the smallest) or in a later one: resume after the last.
            let last = out.last().map(LogEvent::position).filter(|_| overflowed || more_windows);
            return Ok((out, last));
        }
        if more_windows && (searched >= SCAN_BUDGET_BYTES || decoded >= SCAN_BUDGET_EVENTS) {
            let window_end = window.iter().map(|p| p.max).max().unwrap_or(i64::MAX);
            return Ok((out, Some((window_end, u64::MAX))));
        }
    }
    Ok((out, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range_after(a: Position) -> Range {
        Range { after: Some(a), ..Range::default() }
    }

    #[test]
    fn a_segment_may_hold_a_position_only_inside_its_span_and_the_range() {
        assert!(may_hold(&Range::default(), 10, 20));
        assert!(!may_hold(&Range { start: Some(21), ..Range::default() }, 10, 20));
        assert!(may_hold(&Range { start: Some(20), ..Range::default() }, 10, 20));
        assert!(!may_hold(&Range { end: Some(10), ..Range::default() }, 10, 20));
        assert!(may_hold(&range_after((20, 5)), 10, 20), "a later seq at the last timestamp");
        assert!(!may_hold(&range_after((20, u64::MAX)), 10, 20));
        assert!(!may_hold(&range_after((21, 0)), 10, 20));
    }
}

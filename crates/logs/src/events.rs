//! The event store: per log group a directory of segments and an in-memory index by stream and time.
//!
//! Groups are directories named by an id the group's metadata record holds (a recreated group gets a new one).
//! Appends go to the group's open segment and are synced before they return; a segment over
//! [`EventStoreConfig::segment_bytes`] is rotated, and [`EventStore::maintain`] seals rotated or idle segments and
//! compacts sealed ones past the group's retention. Deleted streams are recorded in `tombstones.json` (stream and
//! the sequence number below which its events are gone) until compaction drops their events.

mod group;
mod scan;

use crate::segment::{self, Record, Span};
use group::{EventRef, GroupLog, SegmentInfo, remember};
pub use scan::{FilterQuery, SCAN_BUDGET_BYTES, SCAN_BUDGET_EVENTS};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A place in time order: `(timestamp, seq)`.
pub type Position = (i64, u64);

/// Limits of the event store.
#[derive(Debug, Clone, Copy)]
pub struct EventStoreConfig {
    /// An open segment larger than this is rotated (and then sealed).
    pub segment_bytes: u64,
    /// An open segment not written for this long (milliseconds) is sealed.
    pub seal_idle_millis: i64,
}

impl Default for EventStoreConfig {
    fn default() -> Self {
        Self { segment_bytes: 4 * 1024 * 1024, seal_idle_millis: 10 * 60 * 1000 }
    }
}

/// An event as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Its stream.
    pub stream: String,
    /// Its timestamp (epoch milliseconds).
    pub timestamp: i64,
    /// When it was stored (epoch milliseconds).
    pub ingestion_time: i64,
    /// Its group-wide sequence number.
    pub seq: u64,
    /// The message.
    pub message: String,
}

impl LogEvent {
    /// The event's position in time order: `(timestamp, seq)`.
    pub fn position(&self) -> (i64, u64) {
        (self.timestamp, self.seq)
    }
}

/// A stream's figures, as DescribeLogStreams shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// The earliest event timestamp.
    pub first_event: Option<i64>,
    /// The latest event timestamp.
    pub last_event: Option<i64>,
    /// The latest ingestion time.
    pub last_ingestion: Option<i64>,
    /// Bytes of stored messages.
    pub stored_bytes: u64,
}

/// Store failures (I/O), with what the store was doing.
#[derive(Debug, thiserror::Error)]
#[error("log store: {context}: {source}")]
pub struct EventStoreError {
    /// What failed.
    pub context: String,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

pub(super) fn io<T>(result: std::io::Result<T>, context: impl FnOnce() -> String) -> Result<T, EventStoreError> {
    result.map_err(|source| EventStoreError { context: context(), source })
}

/// Which events a read wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    /// Events at or after this timestamp.
    pub start: Option<i64>,
    /// Events before this timestamp.
    pub end: Option<i64>,
    /// Events strictly after this position (`(timestamp, seq)`).
    pub after: Option<(i64, u64)>,
    /// Events strictly before this position.
    pub before: Option<(i64, u64)>,
}

impl Range {
    fn admits(&self, e: &EventRef) -> bool {
        self.admits_position((e.timestamp, e.seq))
    }

    /// Whether the range holds a position.
    fn admits_position(&self, pos: Position) -> bool {
        self.start.is_none_or(|s| pos.0 >= s)
            && self.end.is_none_or(|end| pos.0 < end)
            && self.after.is_none_or(|a| pos > a)
            && self.before.is_none_or(|b| pos < b)
    }
}

/// The event store of every log group.
pub struct EventStore {
    root: PathBuf,
    config: EventStoreConfig,
    groups: Mutex<HashMap<String, Arc<Mutex<GroupLog>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl EventStore {
    /// Opens the store under `root`, loading every group directory's index.
    pub fn open(root: &Path, config: EventStoreConfig) -> Result<Self, EventStoreError> {
        io(fs::create_dir_all(root), || format!("creating {}", root.display()))?;
        let mut groups = HashMap::new();
        for entry in io(fs::read_dir(root), || format!("listing {}", root.display()))? {
            let entry = io(entry, || format!("listing {}", root.display()))?;
            if entry.path().is_dir() {
                let id = entry.file_name().to_string_lossy().to_string();
                groups.insert(id, Arc::new(Mutex::new(GroupLog::open(entry.path())?)));
            }
        }
        Ok(Self { root: root.to_path_buf(), config, groups: Mutex::new(groups) })
    }

    fn group(&self, id: &str) -> Result<Arc<Mutex<GroupLog>>, EventStoreError> {
        let mut groups = lock(&self.groups);
        if let Some(g) = groups.get(id) {
            return Ok(g.clone());
        }
        let log = Arc::new(Mutex::new(GroupLog::open(self.root.join(id))?));
        groups.insert(id.to_string(), log.clone());
        Ok(log)
    }

    /// The group directories the store holds.
    pub fn group_ids(&self) -> Vec<String> {
        lock(&self.groups).keys().cloned().collect()
    }

    /// Removes a group's events for good.
    pub fn drop_group(&self, id: &str) -> Result<(), EventStoreError> {
        lock(&self.groups).remove(id);
        let dir = self.root.join(id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(EventStoreError { context: format!("removing {}", dir.display()), source: e })
            }
            _ => Ok(()),
        }
    }

    /// Appends events (`(timestamp, message)`, in order) to a stream, synced before it returns. With a batch id
    /// the stream has stored before, nothing is written and `false` is returned.
    pub fn append(
        &self,
        group: &str,
        stream: &str,
        events: &[(i64, String)],
        ingestion_time: i64,
        batch: Option<&str>,
    ) -> Result<bool, EventStoreError> {
        let log = self.group(group)?;
        let mut log = lock(&log);
        if let Some(batch) = batch
            && log.streams.get(stream).is_some_and(|s| s.batches.iter().any(|b| b == batch))
        {
            return Ok(false);
        }
        if events.is_empty() {
            return Ok(true);
        }
        let rotate = match &log.active {
            Some((id, _)) => log.segments.get(id).is_none_or(|s| s.bytes >= self.config.segment_bytes),
            None => true,
        };
        if rotate {
            let id = log.next_segment_id();
            let (_, file) = io(segment::open_for_append(&log.dir, id), || format!("creating segment {id}"))?;
            log.active = Some((id, file));
            log.segments.insert(id, SegmentInfo::empty(false));
        }
        let Some(id) = log.active.as_ref().map(|(id, _)| *id) else { return Ok(false) };
        let base = log.segments.get(&id).map_or(0, |s| s.bytes);
        let mut bytes = Vec::new();
        let mut records = Vec::with_capacity(events.len());
        for (i, (timestamp, message)) in events.iter().enumerate() {
            let record = Record {
                stream: stream.to_string(),
                timestamp: *timestamp,
                ingestion_time,
                seq: log.next_seq + i as u64,
                message: message.clone(),
                batch: if i == 0 { batch.map(str::to_string) } else { None },
            };
            let frame = segment::encode(&record);
            let span = Span { offset: (base + bytes.len() as u64) as u32, len: frame.len() as u32 };
            bytes.extend(frame);
            records.push((record, span));
        }
        if let Some((_, file)) = &mut log.active {
            io(file.write_all(&bytes).and_then(|()| file.sync_data()), || format!("appending to segment {id}"))?;
        }
        log.next_seq += events.len() as u64;
        let mut info = log.segments.get(&id).copied().unwrap_or(SegmentInfo::empty(false));
        let index = log.streams.entry(stream.to_string()).or_default();
        for (record, span) in &records {
            let e = EventRef { timestamp: record.timestamp, seq: record.seq, segment: id, span: *span };
            let at = index.events.partition_point(|x| (x.timestamp, x.seq) < (e.timestamp, e.seq));
            index.events.insert(at, e);
            info.bytes += u64::from(span.len);
            info.min_timestamp = info.min_timestamp.min(record.timestamp);
            info.max_timestamp = info.max_timestamp.max(record.timestamp);
        }
        info.last_write = ingestion_time;
        index.last_ingestion = Some(ingestion_time);
        if let Some(batch) = batch {
            remember(&mut index.batches, batch);
        }
        log.segments.insert(id, info);
        Ok(true)
    }

    /// A stream's figures.
    pub fn stream_stats(&self, group: &str, stream: &str, cutoff: Option<i64>) -> StreamStats {
        let Ok(log) = self.group(group) else { return StreamStats::default() };
        let log = lock(&log);
        let Some(index) = log.streams.get(stream) else { return StreamStats::default() };
        let live = |e: &&EventRef| cutoff.is_none_or(|c| e.timestamp >= c);
        StreamStats {
            first_event: index.events.iter().find(live).map(|e| e.timestamp),
            last_event: index.events.last().filter(live).map(|e| e.timestamp),
            last_ingestion: index.last_ingestion,
            stored_bytes: index.events.iter().filter(live).map(|e| u64::from(e.span.len)).sum(),
        }
    }

    /// Bytes of stored messages in a group.
    pub fn stored_bytes(&self, group: &str, cutoff: Option<i64>) -> u64 {
        let Ok(log) = self.group(group) else { return 0 };
        let log = lock(&log);
        log.streams
            .values()
            .flat_map(|s| s.events.iter())
            .filter(|e| cutoff.is_none_or(|c| e.timestamp >= c))
            .map(|e| u64::from(e.span.len))
            .sum()
    }

    /// Reads up to `limit` events of one stream in `range`, in time order: the first ones (`from_head`) or the
    /// last ones.
    pub fn read_stream(
        &self,
        group: &str,
        stream: &str,
        range: Range,
        limit: usize,
        from_head: bool,
    ) -> Result<Vec<LogEvent>, EventStoreError> {
        let log = self.group(group)?;
        let mut log = lock(&log);
        let refs: Vec<EventRef> = match log.streams.get(stream) {
            None => Vec::new(),
            Some(index) => {
                let admitted = index.events.iter().filter(|e| range.admits(e));
                if from_head {
                    admitted.take(limit).copied().collect()
                } else {
                    let mut tail: Vec<EventRef> =
                        index.events.iter().rev().filter(|e| range.admits(e)).take(limit).copied().collect();
                    tail.reverse();
                    tail
                }
            }
        };
        refs.iter().map(|e| log.load(stream, e)).collect()
    }

    /// Reads the events a query matches, in time order across the group's streams (see the `scan` module for how);
    /// the events and, when the call stopped before the end (its `limit`, `max_bytes` or scan budget), the position
    /// to resume after.
    pub fn filter(
        &self,
        group: &str,
        query: &FilterQuery<'_>,
    ) -> Result<(Vec<LogEvent>, Option<Position>), EventStoreError> {
        let log = self.group(group)?;
        scan::filter(&log, query)
    }

    /// Forgets a stream's events (DeleteLogStream): recorded in the group's tombstones, dropped at compaction.
    pub fn delete_stream(&self, group: &str, stream: &str) -> Result<(), EventStoreError> {
        let log = self.group(group)?;
        let mut log = lock(&log);
        if let Some(index) = log.streams.remove(stream) {
            for e in &index.events {
                if let Some(info) = log.segments.get_mut(&e.segment) {
                    info.dead = true;
                }
            }
        }
        let below = log.next_seq;
        log.tombstones.insert(stream.to_string(), below);
        log.write_tombstones()
    }

    /// Seals rotated and idle segments and compacts sealed ones: events before `cutoff` (retention) and events of
    /// deleted streams are removed. Returns `(segments sealed, events removed)`.
    pub fn maintain(
        &self,
        group: &str,
        now_millis: i64,
        cutoff: Option<i64>,
    ) -> Result<(usize, usize), EventStoreError> {
        let log = self.group(group)?;
        let mut log = lock(&log);
        let active = log.active.as_ref().map(|(id, _)| *id);
        let to_seal: Vec<u32> = log
            .segments
            .iter()
            .filter(|(id, info)| {
                !info.sealed
                    && (Some(**id) != active
                        || info.bytes >= self.config.segment_bytes
                        || (info.bytes > 0 && now_millis - info.last_write >= self.config.seal_idle_millis))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &to_seal {
            log.seal(*id)?;
        }
        let tombstones = log.tombstones.clone();
        let candidates: Vec<u32> = log
            .segments
            .iter()
            .filter(|(_, info)| info.sealed && (info.dead || cutoff.is_some_and(|c| info.min_timestamp < c)))
            .map(|(id, _)| *id)
            .collect();
        let mut removed = 0;
        for id in candidates {
            removed += log.rewrite(id, |r| {
                cutoff.is_some_and(|c| r.timestamp < c) || tombstones.get(&r.stream).is_some_and(|below| r.seq < *below)
            })?;
        }
        // Tombstones are done with once no segment holds events they cover.
        if !log.tombstones.is_empty() && !log.segments.values().any(|i| i.dead) {
            log.tombstones.clear();
            log.write_tombstones()?;
        }
        Ok((to_seal.len(), removed))
    }
}

#[cfg(test)]
mod tests;

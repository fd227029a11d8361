//! One log group's segments and its index by stream and time.

use super::{EventStoreError, LogEvent, io};
use crate::segment::{self, Record, Span};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// How many batch ids each stream remembers for idempotent retries.
const BATCH_MEMORY: usize = 256;

#[derive(Debug, Clone, Copy)]
pub(super) struct EventRef {
    pub(super) timestamp: i64,
    pub(super) seq: u64,
    pub(super) segment: u32,
    pub(super) span: Span,
}

#[derive(Debug, Default)]
pub(super) struct StreamIndex {
    /// Sorted by `(timestamp, seq)`.
    pub(super) events: Vec<EventRef>,
    pub(super) last_ingestion: Option<i64>,
    pub(super) batches: VecDeque<String>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct SegmentInfo {
    pub(super) sealed: bool,
    /// The sealed files' generation (compaction writes the next one).
    pub(super) generation: u32,
    pub(super) bytes: u64,
    pub(super) min_timestamp: i64,
    pub(super) max_timestamp: i64,
    pub(super) last_write: i64,
    /// It holds events of deleted streams.
    pub(super) dead: bool,
}

impl SegmentInfo {
    /// A segment without events.
    pub(super) fn empty(sealed: bool) -> Self {
        Self {
            sealed,
            generation: 0,
            bytes: 0,
            min_timestamp: i64::MAX,
            max_timestamp: i64::MIN,
            last_write: 0,
            dead: false,
        }
    }
}

pub(super) struct GroupLog {
    pub(super) dir: PathBuf,
    pub(super) segments: BTreeMap<u32, SegmentInfo>,
    pub(super) active: Option<(u32, File)>,
    pub(super) streams: HashMap<String, StreamIndex>,
    pub(super) tombstones: BTreeMap<String, u64>,
    pub(super) next_seq: u64,
    cache: Option<(u32, Arc<Vec<u8>>)>,
    /// A read handle on the open segment read last.
    reader: Option<(u32, File)>,
}

impl GroupLog {
    pub(super) fn open(dir: PathBuf) -> Result<Self, EventStoreError> {
        io(fs::create_dir_all(&dir), || format!("creating {}", dir.display()))?;
        let path = dir.join("tombstones.json");
        let tombstones = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| EventStoreError {
                context: format!("reading {}", path.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(EventStoreError { context: format!("reading {}", path.display()), source: e }),
        };
        let mut log = GroupLog {
            dir: dir.clone(),
            segments: BTreeMap::new(),
            active: None,
            streams: HashMap::new(),
            tombstones,
            next_seq: 1,
            cache: None,
            reader: None,
        };
        let listed = io(segment::list(&dir), || format!("listing {}", dir.display()))?;
        let last_open = listed.iter().rev().find(|(_, generation)| generation.is_none()).map(|(id, _)| *id);
        for (id, generation) in listed {
            let records = if let Some(generation) = generation {
                match segment::read_index(&dir, id, generation) {
                    Ok(records) => records,
                    Err(error) => {
                        tracing::warn!(%error, segment = id, dir = %dir.display(), "rebuilding a log segment's index");
                        let bytes = io(segment::read_bytes(&dir, id, Some(generation)), || {
                            format!("reading segment {id} in {}", dir.display())
                        })?;
                        segment::decode_all(&bytes).0
                    }
                }
            } else {
                let (records, file) =
                    io(segment::open_for_append(&dir, id), || format!("opening segment {id} in {}", dir.display()))?;
                if Some(id) == last_open {
                    log.active = Some((id, file));
                }
                records
            };
            log.add_segment(id, generation, &records);
        }
        for index in log.streams.values_mut() {
            index.events.sort_by_key(|e| (e.timestamp, e.seq));
        }
        Ok(log)
    }

    /// Indexes a segment's records; `generation` is `None` for an open segment.
    pub(super) fn add_segment(&mut self, id: u32, generation: Option<u32>, records: &[(Record, Span)]) {
        let mut info = SegmentInfo::empty(generation.is_some());
        info.generation = generation.unwrap_or(0);
        for (record, span) in records {
            self.next_seq = self.next_seq.max(record.seq + 1);
            info.bytes += u64::from(span.len);
            info.min_timestamp = info.min_timestamp.min(record.timestamp);
            info.max_timestamp = info.max_timestamp.max(record.timestamp);
            info.last_write = info.last_write.max(record.ingestion_time);
            if self.tombstones.get(&record.stream).is_some_and(|below| record.seq < *below) {
                info.dead = true;
                continue;
            }
            let index = self.streams.entry(record.stream.clone()).or_default();
            index.events.push(EventRef { timestamp: record.timestamp, seq: record.seq, segment: id, span: *span });
            index.last_ingestion = index.last_ingestion.max(Some(record.ingestion_time));
            if let Some(batch) = &record.batch {
                remember(&mut index.batches, batch);
            }
        }
        self.segments.insert(id, info);
    }

    fn bytes_of(&mut self, id: u32) -> Result<Arc<Vec<u8>>, EventStoreError> {
        if let Some((cached, bytes)) = &self.cache
            && *cached == id
        {
            return Ok(bytes.clone());
        }
        let generation = self.segments.get(&id).map_or(0, |s| s.generation);
        let bytes = Arc::new(io(segment::read_bytes(&self.dir, id, Some(generation)), || {
            format!("reading sealed segment {id} in {}", self.dir.display())
        })?);
        self.cache = Some((id, bytes.clone()));
        Ok(bytes)
    }

    /// Where segment `id`'s bytes are now: `Some(None)` the open file, `Some(Some(generation))` a sealed one,
    /// `None` when the group no longer has it.
    pub(super) fn generation_of(&self, id: u32) -> Option<Option<u32>> {
        self.segments.get(&id).map(|info| info.sealed.then_some(info.generation))
    }

    pub(super) fn load(&mut self, stream: &str, e: &EventRef) -> Result<LogEvent, EventStoreError> {
        let sealed = self.segments.get(&e.segment).is_none_or(|s| s.sealed);
        let record = if sealed {
            let bytes = self.bytes_of(e.segment)?;
            let start = e.span.offset as usize;
            bytes.get(start..start + e.span.len as usize).and_then(segment::decode)
        } else {
            let mut frame = vec![0; e.span.len as usize];
            let file = match self.reader.take() {
                Some((id, file)) if id == e.segment => file,
                _ => io(File::open(segment::open_path(&self.dir, e.segment)), || {
                    format!("opening segment {} in {}", e.segment, self.dir.display())
                })?,
            };
            let read = file.read_exact_at(&mut frame, u64::from(e.span.offset));
            self.reader = Some((e.segment, file));
            io(read, || format!("reading segment {} in {}", e.segment, self.dir.display()))?;
            segment::decode(&frame)
        };
        let record = record.ok_or_else(|| EventStoreError {
            context: format!("segment {} in {}", e.segment, self.dir.display()),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "a record failed its checksum"),
        })?;
        Ok(LogEvent {
            stream: stream.to_string(),
            timestamp: record.timestamp,
            ingestion_time: record.ingestion_time,
            seq: record.seq,
            message: record.message,
        })
    }

    pub(super) fn next_segment_id(&self) -> u32 {
        self.segments.keys().next_back().map_or(1, |id| id + 1)
    }

    pub(super) fn seal(&mut self, id: u32) -> Result<(), EventStoreError> {
        let bytes = io(fs::read(segment::open_path(&self.dir, id)), || format!("reading segment {id}"))?;
        let (records, _) = segment::decode_all(&bytes);
        io(segment::write_sealed(&self.dir, id, 0, &bytes, &records), || {
            format!("sealing segment {id} in {}", self.dir.display())
        })?;
        if let Some(info) = self.segments.get_mut(&id) {
            info.sealed = true;
            info.generation = 0;
        }
        if self.reader.as_ref().is_some_and(|(reader, _)| *reader == id) {
            self.reader = None;
        }
        if self.active.as_ref().is_some_and(|(active, _)| *active == id) {
            self.active = None;
        }
        Ok(())
    }

    pub(super) fn write_tombstones(&self) -> Result<(), EventStoreError> {
        let path = self.dir.join("tombstones.json");
        let tmp = self.dir.join("tombstones.json.tmp");
        let bytes = serde_json::to_vec(&self.tombstones).unwrap_or_default();
        io(
            (|| {
                let mut f = File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                fs::rename(&tmp, &path)
            })(),
            || format!("writing {}", path.display()),
        )
    }

    /// Rewrites (or removes) sealed segment `id` without the events `drop` names.
    pub(super) fn rewrite(&mut self, id: u32, drop: impl Fn(&Record) -> bool) -> Result<usize, EventStoreError> {
        let bytes = self.bytes_of(id)?;
        let (records, _) = segment::decode_all(&bytes);
        let before = records.len();
        let mut kept = Vec::new();
        let mut out = Vec::new();
        for (record, _) in records {
            if drop(&record) {
                continue;
            }
            let frame = segment::encode(&record);
            let span = Span { offset: out.len() as u32, len: frame.len() as u32 };
            out.extend(frame);
            kept.push((record, span));
        }
        let dropped = before - kept.len();
        if dropped == 0 {
            if let Some(info) = self.segments.get_mut(&id) {
                info.dead = false;
            }
            return Ok(0);
        }
        let generation = self.segments.get(&id).map_or(0, |s| s.generation) + 1;
        if kept.is_empty() {
            io(segment::remove(&self.dir, id), || format!("removing segment {id} in {}", self.dir.display()))?;
        } else {
            io(segment::write_sealed(&self.dir, id, generation, &out, &kept), || {
                format!("rewriting segment {id} in {}", self.dir.display())
            })?;
        }
        self.cache = None;
        self.reader = None;
        for index in self.streams.values_mut() {
            index.events.retain(|e| e.segment != id);
        }
        self.segments.remove(&id);
        if !kept.is_empty() {
            self.add_segment(id, Some(generation), &kept);
            for index in self.streams.values_mut() {
                index.events.sort_by_key(|e| (e.timestamp, e.seq));
            }
        }
        self.streams.retain(|_, index| !index.events.is_empty() || !index.batches.is_empty());
        Ok(dropped)
    }
}

pub(super) fn remember(batches: &mut VecDeque<String>, batch: &str) {
    if batches.len() == BATCH_MEMORY {
        batches.pop_front();
    }
    batches.push_back(batch.to_string());
}

//! The series store: every series' 1-minute buckets in memory, made durable by an append-only file under
//! `<data-dir>/metrics/`.
//!
//! # File
//! `points.log` holds JSON lines of two kinds: `{"s":ID,"k":KEY}` names a series (once per file), and
//! `{"p":ID,"m":MINUTE,"b":[count,sum,min,max],"h":[[KEY,COUNT],...],"u":UNIT,"w":WRITTEN}` adds an aggregate (and
//! the percentile sketch of its values, `h`) to a minute's.
//! Opening replays the file (a torn last line, from a crash mid-write, is ignored). Each write is flushed to the
//! operating system before the call returns, so a restart of the process loses nothing; the file is synced to disk
//! by [`PointStore::compact`] and [`PointStore::sync`] (the maintenance job, every minute by default).
//! [`PointStore::compact`] prunes buckets past retention and, once the file holds more than twice the live
//! buckets, rewrites it as one snapshot (written to a temporary file, synced, then renamed over the old one).
//!
//! # Bounds
//! At most [`Limits::max_series`] series and [`Limits::max_buckets`] buckets (one per series and minute with data,
//! kept [`RETENTION_MINUTES`]); a write past either is refused with `LimitExceeded`. Percentile sketches hold at
//! most [`Limits::max_bins`] bins together (8 bytes each, at most 64 a minute); past that, new minutes get no
//! sketch, and no percentiles, rather than refusing the write. A bucket costs about 80 bytes
//! of memory and about 100 bytes of file, and the file is at most about three times the live buckets' size.

use crate::MetricsError;
use crate::series::{Bucket, RETENTION_MINUTES, Series, SeriesKey};
use crate::sketch::Sketch;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The store's size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Series kept at most.
    pub max_series: usize,
    /// Buckets (series-minutes with data) kept at most.
    pub max_buckets: usize,
    /// Percentile sketch bins kept at most.
    pub max_bins: usize,
}

impl Default for Limits {
    /// 10,000 series, 20,000,000 buckets and 40,000,000 sketch bins: about 2 GB of memory at most (1.6 GB of
    /// buckets, 320 MB of bins), and 15 days of every minute for about 900 series (a series written only sometimes
    /// costs only its minutes with data).
    fn default() -> Self {
        Self { max_series: 10_000, max_buckets: 20_000_000, max_bins: 40_000_000 }
    }
}

/// One value to add: a series, a minute and an aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The series.
    pub key: SeriesKey,
    /// The minute (epoch seconds / 60).
    pub minute: i64,
    /// What the minute receives.
    pub bucket: Bucket,
    /// The unit given with it.
    pub unit: Option<String>,
    /// The sketch of its values, when they are known.
    pub sketch: Option<Sketch>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Record {
    Series {
        s: u64,
        k: SeriesKey,
    },
    Point {
        p: u64,
        m: i64,
        b: [f64; 4],
        #[serde(default, skip_serializing_if = "Option::is_none")]
        h: Option<Vec<(u16, f32)>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        u: Option<String>,
        w: f64,
    },
}

struct Entry {
    id: u64,
    series: Series,
}

struct Inner {
    series: HashMap<SeriesKey, Entry>,
    next_id: u64,
    buckets: usize,
    bins: usize,
    log: BufWriter<File>,
    log_records: usize,
}

/// Every series, in memory and in `points.log`.
pub struct PointStore {
    dir: PathBuf,
    limits: Limits,
    inner: Mutex<Inner>,
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("points.log")
}

fn write_record(log: &mut impl Write, record: &Record) -> std::io::Result<()> {
    serde_json::to_writer(&mut *log, record)?;
    log.write_all(b"\n")
}

impl PointStore {
    /// Opens (or creates) the store in `dir`, replaying its file.
    pub fn open(dir: &Path, limits: Limits) -> Result<Self, MetricsError> {
        std::fs::create_dir_all(dir)?;
        let path = log_path(dir);
        let mut series: HashMap<SeriesKey, Entry> = HashMap::new();
        let mut by_id: HashMap<u64, SeriesKey> = HashMap::new();
        let (mut next_id, mut log_records) = (0, 0);
        if path.exists() {
            let reader = BufReader::new(File::open(&path)?);
            for (n, line) in reader.split(b'\n').enumerate() {
                let line = line?;
                if line.is_empty() {
                    continue;
                }
                log_records += 1;
                match serde_json::from_slice::<Record>(&line) {
                    Ok(Record::Series { s, k }) => {
                        next_id = next_id.max(s + 1);
                        by_id.insert(s, k.clone());
                        series.entry(k).or_insert(Entry { id: s, series: Series::default() }).id = s;
                    }
                    Ok(Record::Point { p, m, b, h, u, w }) => {
                        let Some(entry) = by_id.get(&p).and_then(|k| series.get_mut(k)) else {
                            tracing::warn!(line = n + 1, "points.log names an unknown series; skipped");
                            continue;
                        };
                        entry.series.add(m, &Bucket { count: b[0], sum: b[1], min: b[2], max: b[3] });
                        if let Some(bins) = h {
                            entry.series.add_sketch(m, &Sketch { bins });
                        }
                        if u.is_some() {
                            entry.series.unit = u;
                        }
                        entry.series.last_write = entry.series.last_write.max(w);
                    }
                    Err(e) => {
                        tracing::warn!(line = n + 1, error = %e, "points.log has a torn or corrupt line; skipped")
                    }
                }
            }
        }
        let buckets = series.values().map(|e| e.series.buckets.len()).sum();
        let bins = series.values().flat_map(|e| e.series.sketches.values()).map(|s| s.bins.len()).sum();
        let log = BufWriter::new(OpenOptions::new().create(true).append(true).open(&path)?);
        let inner = Inner { series, next_id, buckets, bins, log, log_records };
        Ok(Self { dir: dir.to_path_buf(), limits, inner: Mutex::new(inner) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds points written at `now` (epoch seconds), all or none: a batch that would pass a limit is refused whole.
    pub fn add(&self, points: &[Point], now: f64) -> Result<(), MetricsError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut new_series: std::collections::HashSet<&SeriesKey> = std::collections::HashSet::new();
        let mut new_buckets: std::collections::HashSet<(&SeriesKey, i64)> = std::collections::HashSet::new();
        for p in points {
            match inner.series.get(&p.key) {
                Some(e) if e.series.buckets.contains_key(&p.minute) => {}
                Some(_) => {
                    new_buckets.insert((&p.key, p.minute));
                }
                None => {
                    new_series.insert(&p.key);
                    new_buckets.insert((&p.key, p.minute));
                }
            }
        }
        if inner.series.len() + new_series.len() > self.limits.max_series {
            return Err(MetricsError::limit(format!(
                "The metric store holds its limit of {} series; Berth's --metrics-max-series raises it.",
                self.limits.max_series
            )));
        }
        if inner.buckets + new_buckets.len() > self.limits.max_buckets {
            return Err(MetricsError::limit(format!(
                "The metric store holds its limit of {} series-minutes; Berth's --metrics-max-buckets raises it.",
                self.limits.max_buckets
            )));
        }
        for p in points {
            if !inner.series.contains_key(&p.key) {
                let id = inner.next_id;
                inner.next_id += 1;
                write_record(&mut inner.log, &Record::Series { s: id, k: p.key.clone() })?;
                inner.log_records += 1;
                inner.series.insert(p.key.clone(), Entry { id, series: Series::default() });
            }
            let Some(entry) = inner.series.get_mut(&p.key) else { continue };
            let before = entry.series.buckets.len();
            entry.series.add(p.minute, &p.bucket);
            inner.buckets += entry.series.buckets.len() - before;
            if p.unit.is_some() {
                entry.series.unit.clone_from(&p.unit);
            }
            entry.series.last_write = now;
            // A sketch only while the bin budget lasts: past it, the minute has no percentiles.
            let sketch = p.sketch.as_ref().filter(|_| inner.bins < self.limits.max_bins);
            if let Some(sketch) = sketch {
                let delta = entry.series.add_sketch(p.minute, sketch);
                inner.bins = inner.bins.saturating_add_signed(delta);
            }
            let b = p.bucket;
            let record = Record::Point {
                p: entry.id,
                m: p.minute,
                b: [b.count, b.sum, b.min, b.max],
                h: sketch.map(|s| s.bins.clone()),
                u: p.unit.clone(),
                w: now,
            };
            write_record(&mut inner.log, &record)?;
            inner.log_records += 1;
        }
        inner.log.flush()?;
        Ok(())
    }

    /// Calls `f` with each series (in no order) while holding the store's lock.
    pub fn read<T>(&self, f: impl FnOnce(&mut dyn Iterator<Item = (&SeriesKey, &Series)>) -> T) -> T {
        let inner = self.lock();
        let mut iter = inner.series.iter().map(|(k, e)| (k, &e.series));
        f(&mut iter)
    }

    /// Calls `f` with one series, if it exists.
    pub fn with_series<T>(&self, key: &SeriesKey, f: impl FnOnce(&Series) -> T) -> Option<T> {
        self.lock().series.get(key).map(|e| f(&e.series))
    }

    /// How many series and buckets are held.
    pub fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.series.len(), inner.buckets)
    }

    /// Syncs the file to disk.
    pub fn sync(&self) -> Result<(), MetricsError> {
        let mut inner = self.lock();
        inner.log.flush()?;
        inner.log.get_ref().sync_data()?;
        Ok(())
    }

    /// Drops buckets older than retention at `now` (and series left empty), and rewrites the file as a snapshot
    /// once it holds more than twice the live buckets. A summary.
    pub fn compact(&self, now: f64) -> Result<String, MetricsError> {
        let oldest = (now / 60.0).floor() as i64 - RETENTION_MINUTES;
        let mut inner = self.lock();
        let (mut dropped, mut bins_dropped) = (0, 0);
        for entry in inner.series.values_mut() {
            let (buckets, bins) = entry.series.prune(oldest);
            dropped += buckets;
            bins_dropped += bins;
        }
        inner.buckets -= dropped;
        inner.bins = inner.bins.saturating_sub(bins_dropped);
        let before = inner.series.len();
        inner.series.retain(|_, e| !e.series.buckets.is_empty());
        let series_dropped = before - inner.series.len();
        let live = inner.buckets + inner.series.len();
        if inner.log_records <= 2 * live + 1000 {
            inner.log.flush()?;
            inner.log.get_ref().sync_data()?;
            return Ok(format!("{dropped} buckets and {series_dropped} series past retention dropped"));
        }
        let tmp = self.dir.join("points.log.tmp");
        let mut out = BufWriter::new(File::create(&tmp)?);
        let mut records = 0;
        let mut next_id = 0;
        for (key, entry) in inner.series.iter_mut() {
            entry.id = next_id;
            next_id += 1;
            write_record(&mut out, &Record::Series { s: entry.id, k: key.clone() })?;
            records += 1;
            for (minute, b) in &entry.series.buckets {
                let record = Record::Point {
                    p: entry.id,
                    m: *minute,
                    b: [b.count, b.sum, b.min, b.max],
                    h: entry.series.sketches.get(minute).map(|s| s.bins.clone()),
                    u: entry.series.unit.clone(),
                    w: entry.series.last_write,
                };
                write_record(&mut out, &record)?;
                records += 1;
            }
        }
        out.flush()?;
        out.get_ref().sync_all()?;
        drop(out);
        std::fs::rename(&tmp, log_path(&self.dir))?;
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        inner.log = BufWriter::new(OpenOptions::new().append(true).open(log_path(&self.dir))?);
        let old = inner.log_records;
        inner.log_records = records;
        inner.next_id = next_id;
        Ok(format!("{dropped} buckets past retention dropped; points.log rewritten from {old} to {records} records"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, minute: i64, value: f64) -> Point {
        Point {
            key: SeriesKey::new("App", name, vec![("Host".into(), "a".into())]),
            minute,
            bucket: Bucket::of(value, 1.0),
            unit: Some("Count".into()),
            sketch: Some(Sketch::of(value, 1.0)),
        }
    }

    #[test]
    fn survives_a_reopen_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = PointStore::open(dir.path(), Limits::default()).unwrap();
            store.add(&[point("a", 100, 1.0), point("a", 100, 3.0), point("b", 101, 5.0)], 6000.0).unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(log_path(dir.path())).unwrap();
        f.write_all(b"{\"p\":0,\"m\":1").unwrap();
        drop(f);
        let store = PointStore::open(dir.path(), Limits::default()).unwrap();
        assert_eq!(store.size(), (2, 2));
        let key = point("a", 0, 0.0).key;
        let b = store.with_series(&key, |s| s.buckets[&100]).unwrap();
        assert_eq!(b, Bucket { count: 2.0, sum: 4.0, min: 1.0, max: 3.0 });
        assert_eq!(store.with_series(&key, |s| s.sketch(100, 101).unwrap().count()), Some(2.0), "sketches too");
        assert_eq!(store.with_series(&key, |s| s.unit.clone()).unwrap().as_deref(), Some("Count"));
    }

    #[test]
    fn limits_refuse_whole_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = PointStore::open(dir.path(), Limits { max_series: 1, max_buckets: 2, max_bins: 1 }).unwrap();
        store.add(&[point("a", 1, 1.0)], 0.0).unwrap();
        let err = store.add(&[point("a", 2, 1.0), point("b", 2, 1.0)], 0.0).unwrap_err();
        assert_eq!(err.code, "LimitExceeded");
        assert_eq!(store.size(), (1, 1), "nothing of a refused batch is kept");
        store.add(&[point("a", 2, 1.0), point("a", 2, 2.0)], 0.0).unwrap();
        assert_eq!(store.add(&[point("a", 3, 1.0)], 0.0).unwrap_err().code, "LimitExceeded");
        // One sketch bin was allowed: minute 2 has no sketch, so no percentile, but its values are kept.
        let key = point("a", 0, 0.0).key;
        assert_eq!(store.with_series(&key, |s| s.sketches.len()), Some(1));
        assert_eq!(store.with_series(&key, |s| s.buckets[&2].count), Some(2.0));
    }

    #[test]
    fn compaction_prunes_and_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = PointStore::open(dir.path(), Limits::default()).unwrap();
        for i in 0..3000 {
            store.add(&[point("a", 1000 + (i % 3), 1.0)], 0.0).unwrap();
        }
        store.add(&[point("old", 1, 1.0)], 0.0).unwrap();
        let now = (1000 + RETENTION_MINUTES) as f64 * 60.0;
        let summary = store.compact(now).unwrap();
        assert!(summary.contains("rewritten"), "{summary}");
        assert_eq!(store.size(), (1, 3));
        store.add(&[point("a", 1002, 2.0)], now).unwrap();
        drop(store);
        let store = PointStore::open(dir.path(), Limits::default()).unwrap();
        assert_eq!(store.size(), (1, 3));
        let b = store.with_series(&point("a", 0, 0.0).key, |s| s.buckets[&1002]).unwrap();
        assert_eq!((b.count, b.max), (1001.0, 2.0));
    }
}

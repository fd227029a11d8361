//! Segment files: one log group's events, appended as framed records and compressed when sealed.
//!
//! A record is `[length u32 LE][crc32 u32 LE][JSON]`. An open segment is `NNNNNNNN.log`; sealing writes
//! `NNNNNNNN.log.gz` (the same bytes, gzip) and `NNNNNNNN.idx` (the records without their messages, with offsets; JSON lines, gzip),
//! then removes the `.log`. A torn record at the end of an open segment (a crash mid-write) is cut off at open.

use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Bytes of framing before each record's JSON.
const HEADER: usize = 8;

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The stream.
    #[serde(rename = "s")]
    pub stream: String,
    /// The event's timestamp (epoch milliseconds).
    #[serde(rename = "t")]
    pub timestamp: i64,
    /// When Berth stored it (epoch milliseconds).
    #[serde(rename = "i")]
    pub ingestion_time: i64,
    /// The group-wide sequence number, in write order.
    #[serde(rename = "q")]
    pub seq: u64,
    /// The message (empty in an index file).
    #[serde(rename = "m", default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The client's batch id, on the first event of a batch that carried one.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
}

/// A record's place in its segment's (uncompressed) bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Offset of the record's frame.
    #[serde(rename = "o")]
    pub offset: u32,
    /// Length of the frame.
    #[serde(rename = "n")]
    pub len: u32,
}

/// An index line of a sealed segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexLine {
    #[serde(flatten)]
    record: Record,
    #[serde(flatten)]
    span: Span,
}

/// Frames a record.
pub fn encode(record: &Record) -> Vec<u8> {
    let json = serde_json::to_vec(record).unwrap_or_default();
    let mut crc = flate2::Crc::new();
    crc.update(&json);
    let mut out = Vec::with_capacity(HEADER + json.len());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&json);
    out
}

/// Decodes one framed record.
pub fn decode(frame: &[u8]) -> Option<Record> {
    let len = u32::from_le_bytes(frame.get(0..4)?.try_into().ok()?) as usize;
    let sum = u32::from_le_bytes(frame.get(4..8)?.try_into().ok()?);
    let json = frame.get(HEADER..HEADER + len)?;
    let mut crc = flate2::Crc::new();
    crc.update(json);
    if crc.sum() != sum {
        return None;
    }
    serde_json::from_slice(json).ok()
}

/// Every whole, intact record of a segment's bytes with its span, and the length of that valid prefix.
pub fn decode_all(bytes: &[u8]) -> (Vec<(Record, Span)>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER <= bytes.len() {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let end = at + HEADER + len;
        let Some(record) = bytes.get(at..end).and_then(decode) else { break };
        out.push((record, Span { offset: at as u32, len: (end - at) as u32 }));
        at = end;
    }
    (out, at)
}

/// The path of segment `id`'s open file.
pub fn open_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.log"))
}

/// The path of segment `id`'s sealed (compressed) file.
pub fn sealed_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.log.gz"))
}

/// The path of segment `id`'s index.
pub fn index_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.idx"))
}

/// Opens segment `id` for appending, cutting off a torn tail; its records and the file.
pub fn open_for_append(dir: &Path, id: u32) -> std::io::Result<(Vec<(Record, Span)>, File)> {
    let path = open_path(dir, id);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let (records, valid) = decode_all(&bytes);
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    if valid < bytes.len() {
        tracing::warn!(path = %path.display(), cut = bytes.len() - valid, "cutting a torn record off a log segment");
        file.set_len(valid as u64)?;
    }
    Ok((records, file))
}

/// Reads a segment's uncompressed bytes, sealed or open.
pub fn read_bytes(dir: &Path, id: u32, sealed: bool) -> std::io::Result<Vec<u8>> {
    if !sealed {
        return fs::read(open_path(dir, id));
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(File::open(sealed_path(dir, id))?).read_to_end(&mut out)?;
    Ok(out)
}

/// Writes `bytes` as sealed segment `id` with the index of `records`, each file written to a temporary name,
/// synced and renamed; then removes the open file.
pub fn write_sealed(dir: &Path, id: u32, bytes: &[u8], records: &[(Record, Span)]) -> std::io::Result<()> {
    let gz = sealed_path(dir, id);
    let tmp = gz.with_extension("gz.tmp");
    let mut encoder = flate2::write::GzEncoder::new(File::create(&tmp)?, flate2::Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()?.sync_all()?;
    let mut index = Vec::new();
    for (record, span) in records {
        let line = IndexLine { record: Record { message: String::new(), ..record.clone() }, span: *span };
        serde_json::to_writer(&mut index, &line).map_err(std::io::Error::other)?;
        index.push(b'\n');
    }
    let idx = index_path(dir, id);
    let idx_tmp = idx.with_extension("idx.tmp");
    let mut encoder = flate2::write::GzEncoder::new(File::create(&idx_tmp)?, flate2::Compression::default());
    encoder.write_all(&index)?;
    encoder.finish()?.sync_all()?;
    fs::rename(&tmp, &gz)?;
    fs::rename(&idx_tmp, &idx)?;
    sync_dir(dir)?;
    match fs::remove_file(open_path(dir, id)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Reads a sealed segment's index: its records (without messages) and spans.
pub fn read_index(dir: &Path, id: u32) -> std::io::Result<Vec<(Record, Span)>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(File::open(index_path(dir, id))?).read_to_string(&mut text)?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str::<IndexLine>(l).map(|x| (x.record, x.span)).map_err(std::io::Error::other))
        .collect()
}

/// Removes every file of segment `id`.
pub fn remove(dir: &Path, id: u32) -> std::io::Result<()> {
    for path in [open_path(dir, id), sealed_path(dir, id), index_path(dir, id)] {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// The segments in `dir`: `(id, sealed)`, by id. A segment with both an open file and a sealed one was being
/// sealed when the server stopped: the open file wins and the partial sealed files are removed.
pub fn list(dir: &Path) -> std::io::Result<Vec<(u32, bool)>> {
    let mut open = std::collections::BTreeSet::new();
    let mut sealed = std::collections::BTreeSet::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().to_string();
        if let Some(id) = name.strip_suffix(".log").and_then(|n| n.parse::<u32>().ok()) {
            open.insert(id);
        } else if let Some(id) = name.strip_suffix(".log.gz").and_then(|n| n.parse::<u32>().ok()) {
            sealed.insert(id);
        } else if name.ends_with(".tmp") {
            fs::remove_file(dir.join(&name))?;
        }
    }
    let mut out = Vec::new();
    for id in open.union(&sealed).copied() {
        if open.contains(&id) {
            if sealed.contains(&id) {
                fs::remove_file(sealed_path(dir, id))?;
                let _ = fs::remove_file(index_path(dir, id));
            }
            out.push((id, false));
        } else {
            out.push((id, true));
        }
    }
    Ok(out)
}

/// Syncs a directory, so renames and creations in it survive a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, message: &str) -> Record {
        Record {
            stream: "s".into(),
            timestamp: 1000 + seq as i64,
            ingestion_time: 5,
            seq,
            message: message.into(),
            batch: None,
        }
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_whole_records_survive() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = encode(&record(1, "one"));
        bytes.extend(encode(&record(2, "two")));
        let whole = bytes.len();
        bytes.extend(&encode(&record(3, "three"))[..10]);
        fs::write(open_path(dir.path(), 1), &bytes).unwrap();
        let (records, _file) = open_for_append(dir.path(), 1).unwrap();
        assert_eq!(records.iter().map(|(r, _)| r.message.as_str()).collect::<Vec<_>>(), ["one", "two"]);
        assert_eq!(fs::metadata(open_path(dir.path(), 1)).unwrap().len(), whole as u64);
    }

    #[test]
    fn sealing_compresses_and_keeps_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for i in 0..100 {
            bytes.extend(encode(&record(i, "the same message, over and over")));
        }
        fs::write(open_path(dir.path(), 7), &bytes).unwrap();
        let (records, _) = decode_all(&bytes);
        write_sealed(dir.path(), 7, &bytes, &records).unwrap();
        assert_eq!(list(dir.path()).unwrap(), [(7, true)]);
        assert!(fs::metadata(sealed_path(dir.path(), 7)).unwrap().len() < bytes.len() as u64 / 4);
        assert_eq!(read_bytes(dir.path(), 7, true).unwrap(), bytes);
        let index = read_index(dir.path(), 7).unwrap();
        assert_eq!(index.len(), 100);
        assert_eq!(index[3].1, records[3].1);
        assert!(index[3].0.message.is_empty());
    }
}

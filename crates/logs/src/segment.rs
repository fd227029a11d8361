//! Segment files: one log group's events, appended as framed records and compressed when sealed.
//!
//! A record is `[length u32 LE][crc32 u32 LE][payload]`; the payload is binary (first byte [`BINARY_V1`]: varints
//! for the sequence number, the timestamp and the ingestion delay, the stream and batch id with their lengths,
//! then the message's raw bytes to the end), or, as earlier versions wrote it and still read, JSON (first byte `{`).
//! The binary form is what FilterLogEvents decompresses and searches: about 1.3x the messages' bytes where the JSON
//! form, with its member names and escaped quotes, was about 1.9x. An open segment is `NNNNNNNN.log`. Sealing writes generation
//! 0 of the sealed pair, `NNNNNNNN-0.log.lz4` (the same bytes, an LZ4 frame) and `NNNNNNNN-0.idx` (the records
//! without their messages, with offsets; JSON lines, gzip), then removes the `.log`; compaction writes the next generation's pair
//! and then removes the older one. So a crash at any point leaves one complete pair or the open file: at open, an
//! open file wins over sealed pairs, and otherwise the newest complete pair wins; the rest is removed. A torn record
//! at the end of an open segment (a crash mid-write) is cut off at open.
//!
//! Why LZ4 and not gzip: FilterLogEvents reads whole sealed segments, and a scan must stay near `grep`'s speed
//! (docs/BENCHMARKS.md). Measured on this project's 2-core machine over access-log text: gzip (flate2) decompresses
//! at a few hundred MB/s, LZ4 at GB/s, for about half of gzip's ratio. Segments sealed by earlier versions
//! (`NNNNNNNN-G.log.gz`) are still read, and compaction rewrites them as LZ4.

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

/// The first byte of a binary record payload (a JSON payload starts with `{`).
pub const BINARY_V1: u8 = 1;

/// Frames a record (binary payload).
pub fn encode(record: &Record) -> Vec<u8> {
    let batch = record.batch.as_deref().unwrap_or_default();
    let mut payload = Vec::with_capacity(32 + record.stream.len() + batch.len() + record.message.len());
    payload.push(BINARY_V1);
    put_varint(&mut payload, record.seq);
    put_varint(&mut payload, zigzag(record.timestamp));
    put_varint(&mut payload, zigzag(record.ingestion_time.wrapping_sub(record.timestamp)));
    put_varint(&mut payload, record.stream.len() as u64);
    payload.extend_from_slice(record.stream.as_bytes());
    // 0: no batch id; n + 1: a batch id of n bytes (an empty one included).
    put_varint(&mut payload, record.batch.as_ref().map_or(0, |b| b.len() as u64 + 1));
    payload.extend_from_slice(batch.as_bytes());
    payload.extend_from_slice(record.message.as_bytes());
    frame(&payload)
}

/// Frames a record with the JSON payload earlier versions wrote (kept for tests of reading them).
pub fn encode_json(record: &Record) -> Vec<u8> {
    frame(&serde_json::to_vec(record).unwrap_or_default())
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(payload);
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Decodes one framed record, binary or JSON; `None` when it is torn, fails its checksum or does not parse.
pub fn decode(frame: &[u8]) -> Option<Record> {
    let len = u32::from_le_bytes(frame.get(0..4)?.try_into().ok()?) as usize;
    let sum = u32::from_le_bytes(frame.get(4..8)?.try_into().ok()?);
    let payload = frame.get(HEADER..HEADER + len)?;
    let mut crc = flate2::Crc::new();
    crc.update(payload);
    if crc.sum() != sum {
        return None;
    }
    match payload.first()? {
        &BINARY_V1 => decode_binary(&payload[1..]),
        b'{' => serde_json::from_slice(payload).ok(),
        _ => None,
    }
}

fn decode_binary(mut rest: &[u8]) -> Option<Record> {
    let seq = take_varint(&mut rest)?;
    let timestamp = unzigzag(take_varint(&mut rest)?);
    let ingestion_time = timestamp.wrapping_add(unzigzag(take_varint(&mut rest)?));
    let stream_len = usize::try_from(take_varint(&mut rest)?).ok()?;
    let stream = take_str(&mut rest, stream_len)?;
    let batch = match usize::try_from(take_varint(&mut rest)?).ok()? {
        0 => None,
        n => Some(take_str(&mut rest, n - 1)?),
    };
    let message = std::str::from_utf8(rest).ok()?.to_string();
    Some(Record { stream, timestamp, ingestion_time, seq, message, batch })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(rest: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, byte) in rest.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *rest = &rest[i + 1..];
            return Some(v);
        }
    }
    None
}

fn take_str(rest: &mut &[u8], len: usize) -> Option<String> {
    let bytes = rest.get(..len)?;
    *rest = &rest[len..];
    std::str::from_utf8(bytes).ok().map(str::to_string)
}

/// The end of the frame starting at `at`, when a whole frame (by its length header) starts there.
pub fn frame_end(bytes: &[u8], at: usize) -> Option<usize> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let end = at + HEADER + len;
    (end <= bytes.len()).then_some(end)
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

/// How a sealed segment's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// An LZ4 frame (`.log.lz4`): what sealing writes.
    Lz4,
    /// gzip (`.log.gz`): what earlier versions wrote; read, never written.
    Gzip,
}

impl Codec {
    fn suffix(self) -> &'static str {
        match self {
            Codec::Lz4 => ".log.lz4",
            Codec::Gzip => ".log.gz",
        }
    }
}

/// The path of generation `generation` of segment `id`'s sealed file, as sealing writes it (LZ4).
pub fn sealed_path(dir: &Path, id: u32, generation: u32) -> PathBuf {
    sealed_path_of(dir, id, generation, Codec::Lz4)
}

/// The path of a sealed file with a given codec.
pub fn sealed_path_of(dir: &Path, id: u32, generation: u32, codec: Codec) -> PathBuf {
    dir.join(format!("{id:08}-{generation}{}", codec.suffix()))
}

/// The path of generation `generation` of segment `id`'s index.
pub fn index_path(dir: &Path, id: u32, generation: u32) -> PathBuf {
    dir.join(format!("{id:08}-{generation}.idx"))
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

/// Reads a segment's uncompressed bytes: the open file (`None`) or a sealed generation.
pub fn read_bytes(dir: &Path, id: u32, generation: Option<u32>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    read_bytes_into(dir, id, generation, &mut out)?;
    Ok(out)
}

/// [`read_bytes`] into a buffer the caller reuses (cleared first), so a scan over many segments does not fault in
/// fresh pages for each.
pub fn read_bytes_into(dir: &Path, id: u32, generation: Option<u32>, out: &mut Vec<u8>) -> std::io::Result<()> {
    out.clear();
    let Some(generation) = generation else {
        File::open(open_path(dir, id))?.read_to_end(out)?;
        return Ok(());
    };
    match fs::read(sealed_path(dir, id, generation)) {
        Ok(packed) => {
            lz4_flex::frame::FrameDecoder::new(packed.as_slice()).read_to_end(out)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let legacy = File::open(sealed_path_of(dir, id, generation, Codec::Gzip))?;
            flate2::read::GzDecoder::new(legacy).read_to_end(out)?;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Writes `bytes` as generation `generation` of sealed segment `id` with the index of `records`, each file written
/// to a temporary name, synced and renamed; then removes the open file and every other generation.
pub fn write_sealed(
    dir: &Path,
    id: u32,
    generation: u32,
    bytes: &[u8],
    records: &[(Record, Span)],
) -> std::io::Result<()> {
    let sealed = sealed_path(dir, id, generation);
    let tmp = sealed.with_extension("lz4.tmp");
    let mut encoder = lz4_flex::frame::FrameEncoder::new(std::io::BufWriter::new(File::create(&tmp)?));
    encoder.write_all(bytes)?;
    let writer = encoder.finish().map_err(std::io::Error::other)?;
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let mut index = Vec::new();
    for (record, span) in records {
        let line = IndexLine { record: Record { message: String::new(), ..record.clone() }, span: *span };
        serde_json::to_writer(&mut index, &line).map_err(std::io::Error::other)?;
        index.push(b'\n');
    }
    let idx = index_path(dir, id, generation);
    let idx_tmp = idx.with_extension("idx.tmp");
    let mut encoder = flate2::write::GzEncoder::new(File::create(&idx_tmp)?, flate2::Compression::default());
    encoder.write_all(&index)?;
    encoder.finish()?.sync_all()?;
    fs::rename(&tmp, &sealed)?;
    fs::rename(&idx_tmp, &idx)?;
    sync_dir(dir)?;
    for (name, file_id, kind) in entries(dir)? {
        let other_generation = matches!(kind, Kind::Sealed(g, _) | Kind::Index(g) if g != generation)
            || kind == Kind::Sealed(generation, Codec::Gzip);
        if file_id == id && (kind == Kind::Open || other_generation) {
            remove_if_present(&dir.join(name))?;
        }
    }
    Ok(())
}

/// Reads a sealed segment's index: its records (without messages) and spans.
pub fn read_index(dir: &Path, id: u32, generation: u32) -> std::io::Result<Vec<(Record, Span)>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(File::open(index_path(dir, id, generation))?).read_to_string(&mut text)?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str::<IndexLine>(l).map(|x| (x.record, x.span)).map_err(std::io::Error::other))
        .collect()
}

/// Removes every file of segment `id`.
pub fn remove(dir: &Path, id: u32) -> std::io::Result<()> {
    for (name, file_id, _) in entries(dir)? {
        if file_id == id {
            remove_if_present(&dir.join(name))?;
        }
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What a file of a group's directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Open,
    Sealed(u32, Codec),
    Index(u32),
}

/// The segment files in `dir`: name, segment id and kind. Temporary files are removed on the way.
fn entries(dir: &Path) -> std::io::Result<Vec<(String, u32, Kind)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().to_string();
        let parse = |stem: &str| -> Option<(u32, u32)> {
            let (id, generation) = stem.split_once('-')?;
            Some((id.parse().ok()?, generation.parse().ok()?))
        };
        let found = if let Some(id) = name.strip_suffix(".log").and_then(|n| n.parse::<u32>().ok()) {
            Some((id, Kind::Open))
        } else if let Some((id, g)) = name.strip_suffix(".log.lz4").and_then(parse) {
            Some((id, Kind::Sealed(g, Codec::Lz4)))
        } else if let Some((id, g)) = name.strip_suffix(".log.gz").and_then(parse) {
            Some((id, Kind::Sealed(g, Codec::Gzip)))
        } else if let Some((id, g)) = name.strip_suffix(".idx").and_then(parse) {
            Some((id, Kind::Index(g)))
        } else {
            if name.ends_with(".tmp") {
                fs::remove_file(dir.join(&name))?;
            }
            None
        };
        if let Some((id, kind)) = found {
            out.push((name, id, kind));
        }
    }
    Ok(out)
}

/// The segments in `dir` by id: `None` for an open segment, else the sealed generation to use. Files a crash left
/// behind (sealed pairs beside an open file, older or incomplete generations) are removed.
pub fn list(dir: &Path) -> std::io::Result<Vec<(u32, Option<u32>)>> {
    let files = entries(dir)?;
    let mut ids: Vec<u32> = files.iter().map(|(_, id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let of_id = || files.iter().filter(move |(_, i, _)| *i == id);
        let chosen = if of_id().any(|(_, _, k)| *k == Kind::Open) {
            Some(None)
        } else {
            of_id()
                .filter_map(|(_, _, k)| match k {
                    Kind::Sealed(g, _) if of_id().any(|(_, _, k)| *k == Kind::Index(*g)) => Some(*g),
                    _ => None,
                })
                .max()
                .map(Some)
        };
        for (name, _, kind) in of_id() {
            let keep = match (chosen, kind) {
                (Some(None), Kind::Open) => true,
                (Some(Some(g)), Kind::Sealed(k, _) | Kind::Index(k)) => g == *k,
                _ => false,
            };
            if !keep {
                tracing::warn!(file = %dir.join(name).display(), "removing a log segment file a crash left behind");
                remove_if_present(&dir.join(name))?;
            }
        }
        if let Some(chosen) = chosen {
            out.push((id, chosen));
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
    fn binary_records_round_trip_every_field_and_json_records_still_read() {
        let cases = [
            Record {
                stream: "app/web/0f1e".into(),
                timestamp: 1_764_460_800_123,
                ingestion_time: 1_764_460_800_456,
                seq: 0,
                message: "GET /a \"quoted\" \\ tab\t and ünïcødé".into(),
                batch: Some("batch-1".into()),
            },
            // Negative and extreme values, ingestion before the timestamp, empty strings, an empty batch id.
            Record {
                stream: String::new(),
                timestamp: -1,
                ingestion_time: i64::MIN,
                seq: u64::MAX,
                message: String::new(),
                batch: Some(String::new()),
            },
            Record {
                stream: "s".into(),
                timestamp: i64::MAX,
                ingestion_time: 0,
                seq: 300,
                message: "{not json".into(),
                batch: None,
            },
        ];
        for r in cases {
            let binary = encode(&r);
            assert_eq!(binary[HEADER], BINARY_V1);
            assert_eq!(decode(&binary).as_ref(), Some(&r));
            let json = encode_json(&r);
            assert_eq!(json[HEADER], b'{');
            assert_eq!(decode(&json).as_ref(), Some(&r), "a record an earlier version wrote");
        }
        // Mixed in one segment (an open file an earlier version started), walked and decoded in order.
        let mut bytes = encode_json(&record(1, "one"));
        bytes.extend(encode(&record(2, "two")));
        bytes.extend(encode_json(&record(3, "three")));
        let (records, valid) = decode_all(&bytes);
        assert_eq!(valid, bytes.len());
        assert_eq!(records.iter().map(|(r, _)| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        // A flipped bit fails the checksum; a payload of an unknown version is refused.
        let mut bad = encode(&record(4, "four"));
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode(&bad), None);
        let unknown = frame(&[9, 1, 2, 3]);
        assert_eq!(decode(&unknown), None);
        // Truncated varints and lengths past the end are refused, not read out of bounds.
        for cut in 1..encode(&record(5, "five")).len() - HEADER {
            let whole = encode(&record(5, "five"));
            let payload = &whole[HEADER..HEADER + cut];
            let _ = decode(&frame(payload)); // never panics
        }
        assert_eq!(decode(&frame(&[BINARY_V1, 0xff, 0xff])), None);
        assert_eq!(decode(&frame(&[BINARY_V1, 1, 2, 3, 50, b'x'])), None);
    }

    #[test]
    fn binary_records_are_smaller_than_json_for_log_lines() {
        let line = r#"10.0.0.7 - - [29/Nov/2026:20:00:00 +0000] "GET /api/items/123 HTTP/1.1" 200 512 "-" "curl/8.5""#;
        let r = Record {
            stream: "web/app/4f1c2a0e9b7d4c3e8a6f5d2b1c0e9f8a".into(),
            timestamp: 1_764_460_800_123,
            ingestion_time: 1_764_460_800_400,
            seq: 9_510_142,
            message: line.into(),
            batch: None,
        };
        let (binary, json) = (encode(&r).len(), encode_json(&r).len());
        assert!(binary < line.len() + 70, "{binary} bytes for a {}-byte line", line.len());
        assert!(binary * 4 < json * 3, "binary {binary} vs JSON {json}");
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
        write_sealed(dir.path(), 7, 0, &bytes, &records).unwrap();
        assert_eq!(list(dir.path()).unwrap(), [(7, Some(0))]);
        assert!(fs::metadata(sealed_path(dir.path(), 7, 0)).unwrap().len() < bytes.len() as u64 / 2);
        assert_eq!(read_bytes(dir.path(), 7, Some(0)).unwrap(), bytes);
        let index = read_index(dir.path(), 7, 0).unwrap();
        assert_eq!(index.len(), 100);
        assert_eq!(index[3].1, records[3].1);
        assert!(index[3].0.message.is_empty());
    }

    #[test]
    fn segments_sealed_with_gzip_by_earlier_versions_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for i in 0..50 {
            bytes.extend(encode(&record(i, "an older segment")));
        }
        let (records, _) = decode_all(&bytes);
        write_sealed(dir.path(), 3, 2, &bytes, &records).unwrap();
        // What an earlier version left: the same generation as gzip instead of LZ4.
        fs::remove_file(sealed_path(dir.path(), 3, 2)).unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            File::create(sealed_path_of(dir.path(), 3, 2, Codec::Gzip)).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(&bytes).unwrap();
        gz.finish().unwrap();
        assert_eq!(list(dir.path()).unwrap(), [(3, Some(2))]);
        assert_eq!(read_bytes(dir.path(), 3, Some(2)).unwrap(), bytes);
        // Compaction writes the next generation as LZ4 and removes the gzip one.
        write_sealed(dir.path(), 3, 3, &bytes, &records).unwrap();
        assert!(!sealed_path_of(dir.path(), 3, 2, Codec::Gzip).exists());
        assert_eq!(list(dir.path()).unwrap(), [(3, Some(3))]);
        assert_eq!(read_bytes(dir.path(), 3, Some(3)).unwrap(), bytes);
    }

    #[test]
    fn frame_ends_follow_the_length_headers_and_stop_at_a_torn_frame() {
        let mut bytes = encode(&record(1, "one"));
        let first = bytes.len();
        bytes.extend(encode(&record(2, "two")));
        let whole = bytes.len();
        assert_eq!(frame_end(&bytes, 0), Some(first));
        assert_eq!(frame_end(&bytes, first), Some(whole));
        assert_eq!(frame_end(&bytes, whole), None);
        assert_eq!(frame_end(&bytes[..whole - 1], first), None);
    }

    #[test]
    fn after_a_crash_the_open_file_or_the_newest_complete_generation_wins() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = encode(&record(1, "one"));
        let (records, _) = decode_all(&bytes);
        // Sealing was interrupted: the open file and a sealed pair both exist.
        fs::write(open_path(dir.path(), 1), &bytes).unwrap();
        write_sealed(dir.path(), 1, 0, &bytes, &records).unwrap();
        fs::write(open_path(dir.path(), 1), &bytes).unwrap();
        assert_eq!(list(dir.path()).unwrap(), [(1, None)]);
        assert!(!sealed_path(dir.path(), 1, 0).exists());
        // Compaction was interrupted: generation 1's data without its index; generation 0 stays in use.
        write_sealed(dir.path(), 1, 0, &bytes, &records).unwrap();
        fs::write(sealed_path(dir.path(), 1, 1), b"partial").unwrap();
        assert_eq!(list(dir.path()).unwrap(), [(1, Some(0))]);
        assert!(!sealed_path(dir.path(), 1, 1).exists());
        // A finished compaction removed generation 0.
        write_sealed(dir.path(), 1, 1, &bytes, &records).unwrap();
        assert!(!sealed_path(dir.path(), 1, 0).exists() && !index_path(dir.path(), 1, 0).exists());
        assert_eq!(list(dir.path()).unwrap(), [(1, Some(1))]);
    }
}

//! Reading a container's `json-file` log from disk, as log shippers (Fluent Bit, the CloudWatch agent) do, across
//! Docker's rotations.
//!
//! Background: Docker 20.10's `GET /containers/{id}/logs?follow=1` stops at the container's stop without reading
//! to the end, loses entries when the writer is fast, and repeats some around a rotation; the shipper must
//! neither lose nor repeat a line. So it reads the file Docker writes (`LogPath`): one JSON object per entry
//! (`{"log": "...", "stream": "stdout", "time": "<RFC 3339 with nanoseconds>"}`; a line of over 16 KiB is several
//! entries, only the last ending with a newline). Docker rotates by renaming `<path>` to `<path>.1` (and `.1` to
//! `.2`, ...) and opening a new `<path>`; a file is known by its inode, and a [`Checkpoint`] is an inode and the
//! byte offset after the last delivered entry. Once the open file is at its end and `<path>` is another file,
//! the open file has been rotated away (no more writes reach it): the tail reads it to its end and moves to the
//! next newer file.

use super::cursor::Checkpoint;
use crate::runtime::LogEntry;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The most rotated files looked at (Docker's `max-file` for awslogs containers is 5).
const MAX_ROTATED: usize = 20;
/// How much one read takes from the file.
const READ_CHUNK: usize = 256 * 1024;

/// One JSON entry of the file.
#[derive(serde::Deserialize)]
struct JsonEntry {
    log: String,
    stream: String,
    time: String,
}

/// A tail of one container's log files.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    file: File,
    inode: u64,
    /// The offset after the last whole entry returned.
    offset: u64,
    /// Bytes read past `offset` that do not make a whole entry yet.
    carry: Vec<u8>,
}

/// What a read found.
#[derive(Debug, Default)]
pub struct NewEntries {
    /// Entries, each with the position after it.
    pub entries: Vec<(LogEntry, Checkpoint)>,
    /// Entries of the file that were not JSON (reported, skipped).
    pub malformed: usize,
}

impl Tail {
    /// Opens the log at `path` from `from`: the file with `from`'s inode at its offset, or — when there is no
    /// checkpoint, or its file was rotated out — the oldest file there is, from its start. The second value is a
    /// warning when entries were lost to rotation.
    pub fn open(path: &Path, from: &Checkpoint) -> std::io::Result<(Tail, Option<String>)> {
        let files = files(path);
        if from.file != 0
            && let Some((found, _)) = files.iter().find(|(_, inode)| *inode == from.file)
        {
            let mut file = File::open(found)?;
            file.seek(SeekFrom::Start(from.offset))?;
            let tail =
                Tail { path: path.to_path_buf(), file, inode: from.file, offset: from.offset, carry: Vec::new() };
            return Ok((tail, None));
        }
        let warning = (from.file != 0).then(|| {
            "the log file at the checkpoint was rotated away while the agent was down: lines were lost".into()
        });
        let (oldest, inode) = files.last().cloned().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("no log file at {}", path.display()))
        })?;
        let file = File::open(&oldest)?;
        Ok((Tail { path: path.to_path_buf(), file, inode, offset: 0, carry: Vec::new() }, warning))
    }

    /// Reads what was written since the last read (up to about `budget` bytes): whole entries with their
    /// positions. Empty when nothing new is written.
    pub fn read(&mut self, budget: usize) -> std::io::Result<NewEntries> {
        let mut out = NewEntries::default();
        let mut taken = 0;
        while taken < budget {
            let got = self.fill()?;
            if got == 0 {
                if !self.follow_rotation()? {
                    break;
                }
                self.split(&mut out);
                continue;
            }
            taken += got;
            self.split(&mut out);
        }
        Ok(out)
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let start = self.carry.len();
        self.carry.resize(start + READ_CHUNK, 0);
        let got = self.file.read(&mut self.carry[start..])?;
        self.carry.truncate(start + got);
        Ok(got)
    }

    /// Moves whole entries out of `carry` into `out`.
    fn split(&mut self, out: &mut NewEntries) {
        let mut consumed = 0;
        while let Some(newline) = self.carry[consumed..].iter().position(|b| *b == b'\n') {
            let line = &self.carry[consumed..consumed + newline];
            consumed += newline + 1;
            let position = Checkpoint { file: self.inode, offset: self.offset + consumed as u64, finished: false };
            match parse(line) {
                Some(entry) => out.entries.push((entry, position)),
                None => out.malformed += 1,
            }
        }
        self.carry.drain(..consumed);
        self.offset += consumed as u64;
    }

    /// At the end of the open file: when `path` is now another file, the open one was rotated away; having read
    /// it to its end, move to the next newer file. Whether it moved.
    fn follow_rotation(&mut self) -> std::io::Result<bool> {
        let files = files(&self.path);
        let current = files.first().map(|(_, inode)| *inode);
        if current.is_none_or(|inode| inode == self.inode) {
            return Ok(false);
        }
        // Rotated: whatever reached the file before the rename is there now.
        let mut rest = Vec::new();
        self.file.read_to_end(&mut rest)?;
        if !rest.is_empty() {
            self.carry.extend_from_slice(&rest);
            return Ok(true); // the caller splits it, and comes back here at the end
        }
        // The next newer file: the one listed just before ours, or the oldest there is when ours is gone.
        let next = match files.iter().position(|(_, inode)| *inode == self.inode) {
            Some(0) => return Ok(false),
            Some(i) => files[i - 1].clone(),
            None => match files.last() {
                Some(oldest) => oldest.clone(),
                None => return Ok(false),
            },
        };
        self.file = File::open(&next.0)?;
        self.inode = next.1;
        self.offset = 0;
        self.carry.clear();
        Ok(true)
    }
}

/// The log's files, newest first (`path`, `path.1`, `path.2` ...), with their inodes.
fn files(path: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for i in 0..=MAX_ROTATED {
        let candidate = if i == 0 { path.to_path_buf() } else { PathBuf::from(format!("{}.{i}", path.display())) };
        match std::fs::metadata(&candidate) {
            Ok(meta) => out.push((candidate, meta.ino())),
            Err(_) if i == 0 => continue, // between a rename and the new file
            Err(_) => break,
        }
    }
    out
}

fn parse(line: &[u8]) -> Option<LogEntry> {
    let entry: JsonEntry = serde_json::from_slice(line).ok()?;
    let timestamp_ns = crate::runtime::parse_timestamp_ns(&entry.time)?;
    Some(LogEntry { timestamp_ns, stderr: entry.stream == "stderr", bytes: bytes::Bytes::from(entry.log) })
}

/// One entry as Docker's json-file driver writes it (for the fake runtime and tests).
pub fn json_entry(entry: &LogEntry, time: &str) -> String {
    let log = String::from_utf8_lossy(&entry.bytes);
    let stream = if entry.stderr { "stderr" } else { "stdout" };
    format!("{}\n", serde_json::json!({ "log": log, "stream": stream, "time": time }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, text: &str, n: i64) {
        let entry = LogEntry { timestamp_ns: 0, stderr: n % 2 == 1, bytes: bytes::Bytes::from(format!("{text}\n")) };
        let time = format!("2026-11-29T10:00:00.{n:09}Z");
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        f.write_all(json_entry(&entry, &time).as_bytes()).unwrap();
    }

    fn rotate(path: &Path, keep: usize) {
        for i in (1..keep).rev() {
            let _ = std::fs::rename(format!("{}.{i}", path.display()), format!("{}.{}", path.display(), i + 1));
        }
        std::fs::rename(path, format!("{}.1", path.display())).unwrap();
    }

    fn texts(read: &NewEntries) -> Vec<String> {
        read.entries.iter().map(|(e, _)| String::from_utf8_lossy(&e.bytes).trim_end().to_string()).collect()
    }

    #[test]
    fn entries_come_with_their_times_streams_and_positions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, "one", 1);
        append(&path, "two", 2);
        let (mut tail, warning) = Tail::open(&path, &Checkpoint::default()).unwrap();
        assert_eq!(warning, None);
        let read = tail.read(1 << 20).unwrap();
        assert_eq!(texts(&read), ["one", "two"]);
        let (first, position) = &read.entries[0];
        assert_eq!(first.timestamp_ns % 1_000_000_000, 1);
        assert!(first.stderr);
        assert!(position.offset > 0 && position.file != 0);
        assert!(tail.read(1 << 20).unwrap().entries.is_empty(), "nothing new");
        // A checkpoint resumes after the entry it names.
        let (mut again, _) = Tail::open(&path, position).unwrap();
        assert_eq!(texts(&again.read(1 << 20).unwrap()), ["two"]);
    }

    #[test]
    fn a_partly_written_entry_waits_for_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, "whole", 0);
        let (mut tail, _) = Tail::open(&path, &Checkpoint::default()).unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"log":"half"#).unwrap();
        assert_eq!(texts(&tail.read(1 << 20).unwrap()), ["whole"]);
        f.write_all(br#"\n","stream":"stdout","time":"2026-11-29T10:00:01Z"}"#).unwrap();
        f.write_all(b"\n").unwrap();
        assert_eq!(texts(&tail.read(1 << 20).unwrap()), ["half"]);
    }

    #[test]
    fn rotations_are_followed_without_loss_or_repeats_even_several_between_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, "a1", 0);
        let (mut tail, _) = Tail::open(&path, &Checkpoint::default()).unwrap();
        assert_eq!(texts(&tail.read(1 << 20).unwrap()), ["a1"]);
        append(&path, "a2", 0);
        rotate(&path, 5);
        append(&path, "b1", 0);
        rotate(&path, 5);
        append(&path, "c1", 0);
        let read = tail.read(1 << 20).unwrap();
        assert_eq!(texts(&read), ["a2", "b1", "c1"]);
        // Resuming at a position in a rotated file goes on from there.
        let (_, b1_position) = &read.entries[1];
        let (mut resumed, warning) = Tail::open(&path, b1_position).unwrap();
        assert_eq!(warning, None);
        assert_eq!(texts(&resumed.read(1 << 20).unwrap()), ["c1"]);
    }

    #[test]
    fn a_checkpoint_rotated_away_starts_at_the_oldest_file_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, "gone", 0);
        let (mut tail, _) = Tail::open(&path, &Checkpoint::default()).unwrap();
        let read = tail.read(1 << 20).unwrap();
        let position = read.entries[0].1;
        rotate(&path, 1);
        std::fs::remove_file(format!("{}.1", path.display())).unwrap();
        append(&path, "kept", 0);
        let (mut resumed, warning) = Tail::open(&path, &position).unwrap();
        assert!(warning.is_some_and(|w| w.contains("lost")));
        assert_eq!(texts(&resumed.read(1 << 20).unwrap()), ["kept"]);
    }
}

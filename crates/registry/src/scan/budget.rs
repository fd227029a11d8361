//! What a scan may read, and the record of what it left out.
//!
//! A layer is read as a stream (tar over gzip), so its size never weighs on memory; what does is the files of
//! interest a scan keeps (package databases and lockfiles) and the time it spends inflating. [`ScanLimits`] caps
//! each: a file of interest larger than `max_file_bytes` is not read, the files kept for one image stop at
//! `max_kept_bytes` and `max_kept_files`, and one image's layers are inflated up to `max_expanded_bytes` (the rest
//! is not read). [`Skipped`] records each thing left out, so the scan's status description can say what was not
//! scanned and why.

use std::io::{self, Read};

/// How much a scan reads, and how many scans run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanLimits {
    /// The largest file of interest read (larger ones are skipped and reported).
    pub max_file_bytes: u64,
    /// The most bytes of files of interest kept for one image.
    pub max_kept_bytes: u64,
    /// The most files of interest kept for one image.
    pub max_kept_files: usize,
    /// The most bytes one image's layers are inflated to; the rest is not read.
    pub max_expanded_bytes: u64,
    /// Scans that run at once.
    pub max_concurrent: usize,
    /// Scans that may wait or run at once; more are refused (`LimitExceededException`, or a `FAILED` scan on push).
    pub max_queued: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_file_bytes: 16 << 20,
            max_kept_bytes: 64 << 20,
            max_kept_files: 10_000,
            max_expanded_bytes: 2 << 30,
            max_concurrent: 2,
            max_queued: 64,
        }
    }
}

/// How many notes of each kind are named; the rest are counted.
const NAMED: usize = 5;

/// Things of one kind a scan left out: how many, and the first few.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tally {
    count: usize,
    named: Vec<String>,
}

impl Tally {
    fn add(&mut self, what: impl FnOnce() -> String) {
        self.count += 1;
        if self.named.len() < NAMED {
            self.named.push(what());
        }
    }

    fn describe(&self, head: &str) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let mut text = format!("{head} ({})", self.named.join(", "));
        if self.count > self.named.len() {
            text.push_str(&format!(" and {} more", self.count - self.named.len()));
        }
        Some(text)
    }
}

/// What a scan did not read, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    layers: Tally,
    too_large: Tally,
    over_budget: Tally,
    max_file_bytes: u64,
    max_kept_bytes: u64,
}

impl Skipped {
    /// An empty record for scans under `limits`.
    pub fn new(limits: &ScanLimits) -> Self {
        Skipped { max_file_bytes: limits.max_file_bytes, max_kept_bytes: limits.max_kept_bytes, ..Default::default() }
    }

    /// A layer (or part of one) was not read.
    pub fn layer(&mut self, index: usize, why: impl std::fmt::Display) {
        self.layers.add(|| format!("layer {index}: {why}"));
    }

    /// A file of interest was larger than the per-file cap.
    pub fn too_large(&mut self, path: &str, size: u64) {
        self.too_large.add(|| format!("{path}, {size} bytes"));
    }

    /// A file of interest did not fit in the per-image budget.
    pub fn over_budget(&mut self, path: &str) {
        self.over_budget.add(|| path.to_string());
    }

    /// Whether anything was left out.
    pub fn is_empty(&self) -> bool {
        self.layers.count + self.too_large.count + self.over_budget.count == 0
    }

    /// One sentence per reason, with the first few things named.
    pub fn describe(&self) -> Vec<String> {
        let too_large = format!(
            "{} files of interest larger than {} bytes were not read",
            self.too_large.count, self.max_file_bytes
        );
        let over_budget = format!(
            "{} files of interest were not read because the image's files of interest passed {} bytes or the \
             file count limit",
            self.over_budget.count, self.max_kept_bytes
        );
        let layers = format!("{} layers were not read in full", self.layers.count);
        [self.layers.describe(&layers), self.too_large.describe(&too_large), self.over_budget.describe(&over_budget)]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// The error a [`Budget`] reader returns once its allowance is spent.
#[derive(Debug)]
pub struct Exhausted;

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the scan's expanded-size budget is spent")
    }
}

impl std::error::Error for Exhausted {}

/// A reader that stops with [`Exhausted`] after `left` bytes, counting what it read.
pub struct Budget<R> {
    inner: R,
    left: u64,
    /// Bytes read so far.
    pub used: u64,
    /// Whether the allowance ran out.
    pub exhausted: bool,
}

impl<R: Read> Budget<R> {
    /// A reader of at most `left` bytes of `inner`.
    pub fn new(inner: R, left: u64) -> Self {
        Budget { inner, left, used: 0, exhausted: false }
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // Only an exhausted budget if there is more to read.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exhausted = true;
            return Err(io::Error::other(Exhausted));
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        self.used += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_stops_reading_and_says_so() {
        let mut r = Budget::new(&[7u8; 100][..], 40);
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
        assert_eq!((out.len(), r.used, r.exhausted), (40, 40, true));
        let mut exact = Budget::new(&[7u8; 40][..], 40);
        assert_eq!(exact.read_to_end(&mut Vec::new()).unwrap(), 40);
        assert!(!exact.exhausted);
    }

    #[test]
    fn skipped_things_are_counted_and_the_first_named() {
        let mut s = Skipped::new(&ScanLimits::default());
        assert!(s.is_empty());
        for i in 0..8 {
            s.too_large(&format!("app{i}/Cargo.lock"), 1 << 26);
        }
        let text = s.describe().join(" ");
        assert!(text.starts_with("8 files of interest larger than 16777216 bytes were not read"), "{text}");
        assert!(text.contains("app0/Cargo.lock, 67108864 bytes") && text.contains("and 3 more"), "{text}");
    }
}

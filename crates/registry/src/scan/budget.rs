//! What a scan may read, and the record of what it left out.
//!
//! A layer is read as a stream (tar over gzip), so its size never weighs on memory; what does is the files of
//! interest a scan keeps (package databases and lockfiles) and the time it spends inflating. [`ScanLimits`] caps
//! each: a file of interest larger than `max_file_bytes` is not read, the files kept for one image stop at
//! `max_kept_bytes` and `max_kept_files`, and one image's layers are inflated up to `max_expanded_bytes` (the rest
//! is not read). A gzip layer that inflates more than `max_inflate_ratio` times the compressed bytes it consumed
//! (once past `ratio_floor_bytes`) is a decompression bomb: the rest of it is not read (as Apache POI's zip-bomb
//! guard, whose default ratio is also 100). Real layers compress 2 to 10 times. [`Skipped`] records each thing left out, so the scan's status description can say what was not
//! scanned and why.

use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

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
    /// The most a gzip layer may inflate per compressed byte before the rest of it is not read.
    pub max_inflate_ratio: u64,
    /// How much of a layer is inflated before its ratio is judged.
    pub ratio_floor_bytes: u64,
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
            max_inflate_ratio: 100,
            ratio_floor_bytes: 8 << 20,
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

/// Why a [`Budget`] reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The image's expanded-size allowance is spent.
    Expanded,
    /// The layer inflates more than the allowed ratio.
    Ratio,
}

/// The error a [`Budget`] reader returns when it stops.
#[derive(Debug)]
pub struct Exhausted(pub Stop);

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Stop::Expanded => f.write_str("the scan's expanded-size budget is spent"),
            Stop::Ratio => f.write_str("the layer inflates beyond the scan's ratio limit"),
        }
    }
}

impl std::error::Error for Exhausted {}

/// Counts the compressed bytes a decoder consumes from a buffered reader.
pub struct Consumed<B> {
    inner: B,
    count: Rc<Cell<u64>>,
}

impl<B> Consumed<B> {
    /// Counts into `count`.
    pub fn new(inner: B, count: Rc<Cell<u64>>) -> Self {
        Consumed { inner, count }
    }
}

impl<B: BufRead> Read for Consumed<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl<B: BufRead> BufRead for Consumed<B> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.count.set(self.count.get() + amt as u64);
        self.inner.consume(amt);
    }
}

/// A reader that stops with [`Exhausted`] after `left` bytes, or (when given the compressed count) once it has
/// read more than `ratio` times the compressed bytes past `floor`; it counts what it read.
pub struct Budget<R> {
    inner: R,
    left: u64,
    ratio: Option<(Rc<Cell<u64>>, u64, u64)>,
    /// Bytes read so far.
    pub used: u64,
    /// Why it stopped, if it did.
    pub stopped: Option<Stop>,
}

impl<R: Read> Budget<R> {
    /// A reader of at most `left` bytes of `inner`.
    pub fn new(inner: R, left: u64) -> Self {
        Budget { inner, left, ratio: None, used: 0, stopped: None }
    }

    /// Also stops once more than `ratio` bytes were read per byte counted in `compressed`, past `floor` bytes.
    pub fn with_ratio(mut self, compressed: Rc<Cell<u64>>, ratio: u64, floor: u64) -> Self {
        self.ratio = Some((compressed, ratio, floor));
        self
    }

    fn stop(&mut self, why: Stop) -> io::Error {
        self.stopped = Some(why);
        io::Error::other(Exhausted(why))
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(why) = self.stopped {
            return Err(io::Error::other(Exhausted(why)));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // Only an exhausted budget if there is more to read.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            return Err(self.stop(Stop::Expanded));
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        self.used += n as u64;
        let bomb = self.ratio.as_ref().is_some_and(|(compressed, ratio, floor)| {
            self.used > *floor && self.used / compressed.get().max(1) > *ratio
        });
        if bomb {
            return Err(self.stop(Stop::Ratio));
        }
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
        assert_eq!((out.len(), r.used, r.stopped), (40, 40, Some(Stop::Expanded)));
        let mut exact = Budget::new(&[7u8; 40][..], 40);
        assert_eq!(exact.read_to_end(&mut Vec::new()).unwrap(), 40);
        assert_eq!(exact.stopped, None);
        // 1,000 bytes out of 5 "compressed": past a floor of 100 and a ratio of 100, it stops.
        let compressed = Rc::new(Cell::new(5));
        let mut bomb = Budget::new(&[0u8; 1000][..], 1 << 20).with_ratio(compressed.clone(), 100, 100);
        assert!(bomb.read_to_end(&mut Vec::new()).is_err());
        assert_eq!(bomb.stopped, Some(Stop::Ratio));
        compressed.set(100);
        let mut fine = Budget::new(&[0u8; 1000][..], 1 << 20).with_ratio(compressed, 100, 100);
        assert_eq!(fine.read_to_end(&mut Vec::new()).unwrap(), 1000);
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

//! A quick figure for the log store: appends (synced batches), a filter scan, sealing and compression.
//! `cargo run --release -p berth-logs --example log_store_bench`
//!
//! `... --example log_store_bench scan` instead measures the FilterLogEvents scan in process: `BENCH_MIB` MiB
//! (default 1,024) of access-log lines over 8 streams, sealed, searched for `ERROR` (one line in 1,000) page by page,
//! against `grep -c ERROR` over the same text in a file. The end-to-end figure (through the API) is
//! `berth`'s `bench_logs filter`.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a benchmark: fails loudly and measures with the real clock

use berth_logs::events::{EventStore, EventStoreConfig, FilterQuery, Range};
use std::time::Instant;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("scan") {
        return scan();
    }
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    let (batches, per_batch) = (1000, 100);
    let t0 = 1_800_000_000_000_i64;
    let started = Instant::now();
    for b in 0..batches {
        let events: Vec<(i64, String)> = (0..per_batch)
            .map(|i| {
                let n = b * per_batch + i;
                (
                    t0 + n,
                    format!(
                        r#"{{"level": "{}", "ms": {}, "path": "/api/items/{n}"}}"#,
                        ["info", "error"][(n % 50 == 0) as usize],
                        n % 300
                    ),
                )
            })
            .collect();
        store.append("g", &format!("s{}", b % 8), &events, t0, None).unwrap();
    }
    let append = started.elapsed();
    let total = batches * per_batch;
    println!(
        "append: {total} events in {batches} synced batches of {per_batch}: {:.2} s ({:.0} events/s, {:.2} ms a batch)",
        append.as_secs_f64(),
        total as f64 / append.as_secs_f64(),
        append.as_secs_f64() * 1000.0 / batches as f64
    );
    let pattern = berth_logs::pattern::Pattern::parse(r#"{ $.level = "error" && $.ms > 100 }"#).unwrap();
    let query = FilterQuery {
        wanted: &|_| true,
        range: Range::default(),
        keep: &|m| pattern.matches(m),
        literal: None,
        limit: 10_000,
        max_bytes: usize::MAX,
    };
    let started = Instant::now();
    let (found, _) = store.filter("g", &query).unwrap();
    println!(
        "filter (JSON pattern, open segments): {} matches in {:.0} ms",
        found.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let raw: u64 = dir_bytes(&dir.path().join("g"));
    let started = Instant::now();
    let (sealed, _) = store.maintain("g", t0 + 3_600_000, None).unwrap();
    let packed = dir_bytes(&dir.path().join("g"));
    println!(
        "seal: {sealed} segments in {:.0} ms; {:.1} MiB on disk before, {:.1} MiB after ({:.1} MiB segments, {:.1} MiB indexes)",
        started.elapsed().as_secs_f64() * 1000.0,
        raw as f64 / 1048576.0,
        packed as f64 / 1048576.0,
        bytes_ending(&dir.path().join("g"), ".lz4") as f64 / 1048576.0,
        bytes_ending(&dir.path().join("g"), ".idx") as f64 / 1048576.0
    );
    let started = Instant::now();
    let (found, _) = store.filter("g", &query).unwrap();
    println!(
        "filter (JSON pattern, sealed segments): {} matches in {:.0} ms",
        found.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    drop(store);
    let started = Instant::now();
    let _store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    println!("reopen (index from .idx files): {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

fn bytes_ending(dir: &std::path::Path, suffix: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// Line `i` of the scan benchmark: an access-log line of about 120 bytes, `ERROR` in one of 1,000.
fn line(i: usize) -> String {
    let level = if i % 1000 == 999 { "ERROR" } else { "INFO" };
    format!(
        "10.0.{}.{} - - \"GET /api/v1/items/{i} HTTP/1.1\" {} {level} req-{i:012x}",
        (i / 256) % 256,
        i % 256,
        512 + i % 4096
    )
}

fn scan() {
    use std::io::Write;
    let mib: usize = std::env::var("BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(&dir.path().join("store"), EventStoreConfig::default()).unwrap();
    let text_path = dir.path().join("text.log");
    let mut text = std::io::BufWriter::new(std::fs::File::create(&text_path).unwrap());
    let t0 = 1_800_000_000_000_i64;
    let (mut written, mut i, mut batch_no) = (0usize, 0usize, 0i64);
    let started = Instant::now();
    while written < mib * 1024 * 1024 {
        let events: Vec<(i64, String)> = (0..8000).map(|k| (t0 + batch_no, line(i + k))).collect();
        for (_, l) in &events {
            writeln!(text, "{l}").unwrap();
            written += l.len() + 1;
        }
        i += events.len();
        store.append("g", &format!("s{}", batch_no % 8), &events, t0, None).unwrap();
        batch_no += 1;
    }
    text.flush().unwrap();
    drop(text);
    store.maintain("g", t0 + 3_600_000, None).unwrap();
    println!(
        "loaded {i} lines ({:.0} MiB) and sealed in {:.1} s",
        written as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    // The floor of a scan: read, decompress and search every sealed segment once, in one buffer.
    let started = Instant::now();
    let (mut raw, mut hits, mut buffer) = (0usize, 0usize, Vec::with_capacity(8 << 20));
    let finder = memchr::memmem::Finder::new("ERROR");
    for entry in std::fs::read_dir(dir.path().join("store").join("g")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".lz4") {
            let packed = std::fs::read(&path).unwrap();
            buffer.clear();
            std::io::Read::read_to_end(&mut lz4_flex::frame::FrameDecoder::new(packed.as_slice()), &mut buffer)
                .unwrap();
            raw += buffer.len();
            hits += finder.find_iter(&buffer).count();
        }
    }
    println!(
        "floor: decompress + search {:.0} MiB of segments: {:.3} s ({hits} hits)",
        raw as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let pattern = berth_logs::pattern::Pattern::parse("ERROR").unwrap();
    for round in 1..=3 {
        let started = Instant::now();
        let (mut found, mut after, mut pages) = (0, None, 0);
        loop {
            let query = FilterQuery {
                wanted: &|_| true,
                range: Range { after, ..Range::default() },
                keep: &|m| pattern.matches(m),
                literal: pattern.required_literal().map(str::as_bytes),
                limit: 10_000,
                max_bytes: 1_048_576,
            };
            let (events, resume) = store.filter("g", &query).unwrap();
            found += events.len();
            pages += 1;
            match resume {
                Some(p) => after = Some(p),
                None => break,
            }
        }
        let berth = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let out = std::process::Command::new("grep").args(["-c", "ERROR"]).arg(&text_path).output().unwrap();
        let grep = started.elapsed().as_secs_f64();
        let count: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(found, count, "every match");
        println!(
            "round {round}: scan {berth:.3} s ({pages} pages, {found} matches), grep -c {grep:.3} s: {:.2}x",
            berth / grep
        );
    }
}

//! A quick figure for the log store: appends (synced batches), a filter scan, sealing and compression.
//! `cargo run --release -p berth-logs --example log_store_bench`

#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a benchmark: fails loudly and measures with the real clock

use berth_logs::events::{EventStore, EventStoreConfig, Range};
use std::time::Instant;

fn main() {
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
    let started = Instant::now();
    let (found, _) =
        store.filter("g", &|_| true, Range::default(), &|m| pattern.matches(m), 10_000, usize::MAX).unwrap();
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
        bytes_ending(&dir.path().join("g"), ".gz") as f64 / 1048576.0,
        bytes_ending(&dir.path().join("g"), ".idx") as f64 / 1048576.0
    );
    let started = Instant::now();
    let (found, _) =
        store.filter("g", &|_| true, Range::default(), &|m| pattern.matches(m), 10_000, usize::MAX).unwrap();
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

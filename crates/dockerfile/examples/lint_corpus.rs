//! Times linting the corpus in-process (parse, analysis, every rule), without the CLI's process start:
//! `cargo run --release -p berth-dockerfile --example lint_corpus [ROUNDS]`.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_dockerfile::{Options, lint};

// A benchmark measures wall time itself; there is no controller here to drive with a `Clock`.
#[allow(clippy::disallowed_methods)]
fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .filter_map(|p| Some((p.display().to_string(), std::fs::read_to_string(&p).ok()?)))
        .collect();
    files.sort();
    let bytes: usize = files.iter().map(|(_, s)| s.len()).sum();
    let lines: usize = files.iter().map(|(_, s)| s.lines().count()).sum();
    let options = Options { dockerignore: Some(false), ignore: Vec::new() };
    let mut findings = 0;
    let mut per_round = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        for (_, source) in &files {
            findings += lint(source, &options).map_or(0, |f| f.len());
        }
        per_round.push(start.elapsed());
    }
    per_round.sort();
    let median = per_round[rounds / 2];
    let p99 = per_round[(rounds * 99 / 100).min(rounds - 1)];
    let per_file = median / files.len().max(1) as u32;
    println!(
        "{} files, {lines} lines, {bytes} bytes, {} findings per round; {rounds} rounds: median {:?} per corpus \
         (p99 {:?}), {:?} per file, {:.1} MB/s",
        files.len(),
        findings / rounds.max(1),
        median,
        p99,
        per_file,
        bytes as f64 / median.max(Duration::from_nanos(1)).as_secs_f64() / 1e6
    );
}

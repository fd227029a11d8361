//! Transaction and read latency of the store backends, SQLite against a local single-member etcd (started here):
//! `cargo run --release -p berth-store --features testing --example bench_store [N]`. Each backend gets N
//! sequential compare-and-swap creates (one key each, ~300-byte values, as a task record), N point reads, one
//! range of everything, then 16 concurrent writers doing N creates in all; it prints p50/p99 and throughput.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark: fails loudly, reads the wall clock

use berth_store::testing::EtcdProcess;
use berth_store::{EtcdConfig, EtcdStore, SharedStore, SqliteStore, Txn, TxnOutcome};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn line(name: &str, what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:7} {what:28} p50 {:>8.3} ms  p99 {:>8.3} ms",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3
    );
}

async fn run(name: &str, store: SharedStore, n: usize) {
    let value = vec![b'x'; 300];
    let mut writes = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        let outcome = store
            .txn(Txn::new().expect(format!("/bench/seq/{i:06}"), 0).put(format!("/bench/seq/{i:06}"), value.clone()))
            .await
            .unwrap();
        writes.push(start.elapsed());
        assert!(matches!(outcome, TxnOutcome::Committed { .. }));
    }
    line(name, "txn (CAS create), sequential", writes);
    let mut reads = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        assert!(store.get(&format!("/bench/seq/{i:06}")).await.unwrap().is_some());
        reads.push(start.elapsed());
    }
    line(name, "get", reads);
    let start = Instant::now();
    let range = store.range("/bench/").await.unwrap();
    println!("{name:7} {:28} {} keys in {:.1} ms", "range", range.kvs.len(), start.elapsed().as_secs_f64() * 1e3);
    let writers = 16;
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let value = value.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..n / writers {
                let key = format!("/bench/par/{w:02}/{i:06}");
                store.txn(Txn::new().expect(key.clone(), 0).put(key, value.clone())).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "{name:7} {:28} {:.0} txn/s",
        format!("txn, {writers} concurrent writers"),
        (n / writers * writers) as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).map(|a| a.parse().expect("N is a number")).unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let sqlite: SharedStore = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).unwrap());
    run("sqlite", sqlite, n).await;
    let etcd = EtcdProcess::start().unwrap_or_else(|e| panic!("{e}"));
    let store: SharedStore = Arc::new(
        EtcdStore::connect(EtcdConfig::parse(&format!("{}?prefix=/bench", etcd.url())).unwrap()).await.unwrap(),
    );
    run("etcd", store, n).await;
}

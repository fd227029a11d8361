//! Issue 13's log ingest benchmark: lines a second from a container to a query that returns them, against Docker's
//! own `json-file` driver plus `docker logs` on the same workload, in one run on this machine.
//!
//! - Berth: `berth up`, a task of the workload's `lines N` mode with the `awslogs` driver (blocking mode, flush
//!   every second); timed from RunTask's send until GetLogEvents shows the workload's last line (`done`), then
//!   every line is counted with GetLogEvents.
//! - Peer: `docker run -d` of the same image and command with `json-file`; timed from the run until
//!   `docker logs --tail 1` shows `done`, then `docker logs` is counted.
//!
//! Run: `cargo build --release -p berth && cargo run --release -p berth --example bench_logs`
//! (`BERTH_BIN` overrides the binary; `BENCH_LINES` the number of lines, default 1,000,000; `BENCH_ROUNDS` the
//! rounds, default 3).
//!
//! `bench_logs filter` measures FilterLogEvents instead (`BENCH_WAIT_S=150` waits for the maintenance job to seal
//! the segments first): `BENCH_MIB` MiB (default 1,024) of access-log lines, one in 1,000 with the term `ERROR`,
//! written with PutLogEvents over 8 streams (and to a file), then FilterLogEvents with the pattern `ERROR` over the
//! whole group, paged to the end and counted, against `grep -c ERROR` on the file (read once before, so it is in the
//! page cache).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark fails loudly and times real work

use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
use berth_testkit::{Berth, docker};
use std::time::{Duration, Instant};

fn binary() -> String {
    std::env::var("BERTH_BIN")
        .unwrap_or_else(|_| format!("{}/target/release/berth", berth_testkit::workspace_root().display()))
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn logs_client(berth: &Berth) -> aws_sdk_cloudwatchlogs::Client {
    use aws_sdk_cloudwatchlogs::{Client, Config, config};
    let creds =
        aws_credential_types::Credentials::new(&berth.access_key_id, &berth.secret_access_key, None, None, "bench");
    let config = Config::builder()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(berth.url())
        .build();
    Client::from_conf(config)
}

/// Counts a stream's events, paging forward until the token stops moving.
async fn count(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, stream: &str) -> usize {
    let (mut total, mut token) = (0, None::<String>);
    loop {
        let page = logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        total += page.events.unwrap_or_default().len();
        if page.next_forward_token.is_none() || page.next_forward_token == token {
            return total;
        }
        token = page.next_forward_token;
    }
}

/// One Berth round: seconds until the last line is queryable, and the lines stored.
async fn berth_round(berth: &Berth, image: &str, lines: usize, round: usize) -> (f64, usize) {
    let ecs = berth_testkit::ecs_client(berth);
    let logs = logs_client(berth);
    let family = format!("bench-logs-{round}");
    let log = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", "/bench/logs")
        .options("awslogs-create-group", "true")
        .options("awslogs-stream-prefix", "bench")
        .options("mode", "blocking")
        .options("awslogs-force-flush-interval-seconds", "1")
        .build()
        .unwrap();
    let container = ContainerDefinition::builder()
        .name("app")
        .image(image)
        .memory(64)
        .set_command(Some(vec!["lines".into(), lines.to_string()]))
        .log_configuration(log)
        .build();
    ecs.register_task_definition().family(&family).container_definitions(container).send().await.unwrap();
    let started = Instant::now();
    let run = ecs.run_task().task_definition(&family).send().await.unwrap();
    let task_arn = run.tasks.unwrap_or_default().remove(0).task_arn.unwrap();
    let stream = format!("bench/app/{}", task_arn.rsplit('/').next().unwrap());
    loop {
        // The newest event of the stream (GetLogEvents without startFromHead reads from the end).
        let found = logs
            .get_log_events()
            .log_group_name("/bench/logs")
            .log_stream_name(&stream)
            .limit(1)
            .send()
            .await
            .ok()
            .is_some_and(|r| r.events.unwrap_or_default().iter().any(|e| e.message.as_deref() == Some("done")));
        if found {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    (seconds, count(&logs, "/bench/logs", &stream).await)
}

/// One round of the peer: seconds until `docker logs` shows the last line, and the lines it shows.
fn docker_round(image: &str, lines: usize) -> (f64, usize) {
    let started = Instant::now();
    let id = docker(&["run", "-d", "--log-driver", "json-file", image, "lines", &lines.to_string()]).unwrap();
    let id = id.trim().to_string();
    loop {
        let out = std::process::Command::new("docker").args(["logs", "--tail", "1", &id]).output().unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("done") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = started.elapsed().as_secs_f64();
    let out = std::process::Command::new("docker").args(["logs", &id]).output().unwrap();
    let shown =
        String::from_utf8_lossy(&out.stdout).lines().count() + String::from_utf8_lossy(&out.stderr).lines().count();
    let _ = docker(&["rm", "-f", &id]);
    (seconds, shown)
}

async fn run() {
    let lines = env_number("BENCH_LINES", 1_000_000);
    let rounds = env_number("BENCH_ROUNDS", 3);
    let image = berth_testkit::workload_image().unwrap();
    let berth = Berth::up(&binary()).unwrap();
    let ecs = berth_testkit::ecs_client(&berth);
    berth_testkit::wait_for("the agent", Duration::from_secs(60), || async {
        let listed = ecs.list_container_instances().send().await.ok()?;
        (!listed.container_instance_arns.unwrap_or_default().is_empty()).then_some(())
    })
    .await
    .unwrap();
    println!("log ingest, {lines} lines a round (about {} MB), {rounds} rounds", lines * 12 / 1_000_000);
    println!(
        "| round | Berth awslogs: s to queryable / lines/s / stored | docker json-file + docker logs: s / lines/s / shown | ratio |"
    );
    println!("|---|---|---|---|");
    for round in 0..rounds {
        let (b, stored) = berth_round(&berth, &image, lines, round).await;
        let (d, shown) = docker_round(&image, lines);
        let rate = |s: f64| (lines + 1) as f64 / s;
        println!(
            "| {} | {b:.2} s / {:.0} / {stored} | {d:.2} s / {:.0} / {shown} | {:.2}x |",
            round + 1,
            rate(b),
            rate(d),
            b / d
        );
    }
}

/// Line `i` of the filter benchmark's text: an access-log line of about 120 bytes, `ERROR` in one of 1,000.
fn access_line(i: usize) -> String {
    let level = if i % 1000 == 999 { "ERROR" } else { "INFO" };
    format!(
        "10.0.{}.{} - - [29/Nov/2026:17:00:00 +0000] \"GET /api/v1/items/{i} HTTP/1.1\" {} {} {level} req-{i:012x}",
        (i / 256) % 256,
        i % 256,
        if level == "ERROR" { 500 } else { 200 },
        512 + i % 4096
    )
}

async fn filter_run() {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    use std::io::Write;
    let mib = env_number("BENCH_MIB", 1024);
    let berth = Berth::up(&binary()).unwrap();
    let logs = logs_client(&berth);
    let group = "/bench/filter";
    logs.create_log_group().log_group_name(group).send().await.unwrap();
    let streams: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    for s in &streams {
        logs.create_log_stream().log_group_name(group).log_stream_name(s).send().await.unwrap();
    }
    let file_path = berth.data_dir.path().join("filter-bench.log");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&file_path).unwrap());
    let target = mib * 1024 * 1024;
    let (mut written, mut i, mut batch_no) = (0usize, 0usize, 0usize);
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let loaded = Instant::now();
    while written < target {
        let mut events = Vec::with_capacity(8000);
        let mut bytes = 0;
        while bytes < 900_000 && events.len() < 8000 && written + bytes < target {
            let line = access_line(i);
            writeln!(file, "{line}").unwrap();
            // PutLogEvents counts 26 bytes an event on top of the message (1,048,576 at most a batch).
            bytes += line.len() + 26;
            events.push(
                InputLogEvent::builder().timestamp(now_ms - 3_600_000 + batch_no as i64).message(line).build().unwrap(),
            );
            i += 1;
        }
        written += events.iter().map(|e| e.message.len() + 1).sum::<usize>();
        let stream = &streams[batch_no % streams.len()];
        logs.put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .send()
            .await
            .unwrap();
        batch_no += 1;
    }
    file.flush().unwrap();
    drop(file);
    let expected = (0..i).filter(|n| n % 1000 == 999).count();
    println!("loaded {} lines, {:.0} MiB, in {:.1} s", i, written as f64 / 1048576.0, loaded.elapsed().as_secs_f64());
    // `BENCH_WAIT_S`: wait before searching, so the store's maintenance (every 60 s) seals the segments (LZ4) and the
    // rounds measure sealed segments rather than the open files the load just wrote.
    let wait = env_number("BENCH_WAIT_S", 0);
    if wait > 0 {
        println!("waiting {wait} s for the maintenance job to seal the segments");
        tokio::time::sleep(Duration::from_secs(wait as u64)).await;
    }
    // Warm the page cache for grep, as the store's files are warm from the load.
    let _ = std::process::Command::new("cat").arg(&file_path).stdout(std::process::Stdio::null()).status();
    println!("| round | Berth FilterLogEvents `ERROR`: s / matches | grep -c ERROR: s / matches | ratio |");
    println!("|---|---|---|---|");
    for round in 0..env_number("BENCH_ROUNDS", 3) {
        let started = Instant::now();
        let (mut found, mut token) = (0usize, None::<String>);
        loop {
            let page = logs
                .filter_log_events()
                .log_group_name(group)
                .filter_pattern("ERROR")
                .set_next_token(token.take())
                .send()
                .await
                .unwrap();
            found += page.events.unwrap_or_default().len();
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        let b = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let out = std::process::Command::new("grep").args(["-c", "ERROR"]).arg(&file_path).output().unwrap();
        let g = started.elapsed().as_secs_f64();
        let grep_count: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!((found, grep_count), (expected, expected), "every match, no other");
        println!("| {} | {b:.2} s / {found} | {g:.2} s / {grep_count} | {:.2}x |", round + 1, b / g);
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    if std::env::args().nth(1).as_deref() == Some("filter") {
        runtime.block_on(filter_run());
    } else {
        runtime.block_on(run());
    }
}

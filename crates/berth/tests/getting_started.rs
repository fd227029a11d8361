//! The getting-started guide (`docs/GETTING-STARTED.md`) run as written: `berth up` with the flags of its `console`
//! block, then every `sh` block in order, in one bash (`set -euo pipefail`), as a user who pasted `berth up`'s
//! export line, from the root of the checkout, with a home of its own. Only ports change (a free DNS port for the
//! guide's 5353, and this test's own range of load-balancer addresses), so that it runs next to other tests. Then
//! the outcome is checked through the API: the compose-built service was scaled out to 3 by the load balancer's
//! request count, and the clean-up removed what the guide made.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timings against real processes need the real clock

mod common;

use berth_model::clock::Clock;
use berth_testkit::{Berth, BerthOptions, free_port};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The guide's fenced blocks: (info string, text).
fn blocks(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) => current = Some((info.trim().to_string(), String::new())),
            (Some(_), Some("")) => out.extend(current.take()),
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(current.is_none(), "an unclosed code block in the guide");
    out
}

/// The flags of the guide's `berth up` line.
fn up_flags(blocks: &[(String, String)]) -> Vec<String> {
    let line = blocks
        .iter()
        .filter(|(info, _)| info == "console")
        .flat_map(|(_, text)| text.lines())
        .find_map(|l| l.trim().strip_prefix("berth up"))
        .expect("the guide starts Berth with `berth up`");
    line.split_whitespace().map(str::to_string).collect()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

#[test]
fn the_getting_started_guide_runs_as_written() {
    berth_testkit::require_docker();
    let root = workspace_root();
    let guide = std::fs::read_to_string(root.join("docs/GETTING-STARTED.md")).unwrap();
    let blocks = blocks(&guide);
    let dns_port = free_port().to_string();
    let pid = std::process::id();
    let range = format!("127.{}.{}.0/24", 60 + pid % 40, pid / 40 % 250 + 1);

    let mut flags: Vec<String> = up_flags(&blocks).into_iter().map(|f| f.replace("5353", &dns_port)).collect();
    assert!(flags.iter().any(|f| f.starts_with("--dns-listen")), "the guide serves DNS: {flags:?}");
    flags.extend(["--elb-address-range".to_string(), range]);
    let berth =
        Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "up", extra_args: flags })
            .expect("berth up starts");

    let script: String = blocks
        .iter()
        .filter(|(info, _)| info == "sh")
        .map(|(_, text)| text.replace("5353", &dns_port))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(script.contains("berth compose up") && script.contains("put-scaling-policy"), "{script}");
    let home = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_berth")).parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}:{}",
        bin_dir.display(),
        root.join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    with_user_env(&mut command, &berth)
        .args(["-euxo", "pipefail", "-c", &script])
        .current_dir(&root)
        .env("HOME", home.path())
        .env("PATH", path)
        .env("AWS_PAGER", "")
        .env("NO_COLOR", "1")
        // The guide's `cargo build` is a user's, not this test's.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTFLAGS");
    let started = berth_model::clock::SystemClock.monotonic();
    let output = command.output().expect("bash runs");
    let took = berth_model::clock::SystemClock.monotonic().saturating_duration_since(started);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("--- the guide's commands ({:.0} s):\n{stdout}\n--- stderr:\n{stderr}", took.as_secs_f64());
    assert!(output.status.success(), "the guide failed:\n{stderr}\n--- berth's log:\n{}", berth.log());

    // What the guide claims, checked through the API.
    assert!(stdout.contains("hello from compose"), "the service answered through the load balancer: {stdout}");
    let hostnames = stdout.lines().filter(|l| l.starts_with("\"hostname\":")).count();
    assert_eq!(hostnames, 3, "three tasks answered behind the load balancer: {stdout}");
    assert!(
        stdout.contains("Setting desired count to 3.") || stdout.contains("Setting desired count to 2."),
        "a scaling activity: {stdout}"
    );
    let services = aws_ok(&berth, "ecs", &["describe-services", "--services", "demo-web"]);
    // DeleteService leaves a service DRAINING until its tasks have stopped, then INACTIVE, as ECS does.
    let status = &services["services"][0]["status"];
    let gone = status == "DRAINING" || status == "INACTIVE" || services["failures"][0]["reason"] == "MISSING";
    assert!(gone, "compose down deleted the service: {status}");
    let lbs = aws_ok(&berth, "elbv2", &["describe-load-balancers"]);
    assert_eq!(lbs["LoadBalancers"].as_array().map(Vec::len), Some(0), "{lbs}");
}

#[test]
fn the_guide_parser_reads_fences_and_the_up_line() {
    let text = "x\n```console\ncargo build\nberth up --a 1 --b\n```\n```sh\necho hi\n```\n";
    let b = blocks(text);
    assert_eq!(
        b,
        vec![("console".into(), "cargo build\nberth up --a 1 --b\n".into()), ("sh".into(), "echo hi\n".into())]
    );
    assert_eq!(up_flags(&b), ["--a", "1", "--b"]);
}

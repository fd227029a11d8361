//! `berth lint` as a user runs it: exit codes by severity, parse errors, standard input, `.dockerignore`
//! detection, and the three formats. No Docker needed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn berth(args: &[&str], dir: &Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("lint")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the berth binary runs");
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[test]
fn exit_codes_formats_stdin_and_dockerignore() {
    let dir = tempfile::tempdir().unwrap();
    // Warnings only (unpinned base, root user, COPY . . without .dockerignore).
    std::fs::write(dir.path().join("Dockerfile"), "FROM alpine\nCOPY . /app\n").unwrap();
    let out = berth(&[], dir.path(), None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Dockerfile:1:1 warning BL001 "), "{stdout}");
    assert!(stdout.contains("Dockerfile:2:1 warning BL011 "), "{stdout}");
    assert!(stdout.contains("    fix: "), "{stdout}");
    assert_eq!(berth(&["--fail-on", "warning"], dir.path(), None).status.code(), Some(1));
    assert_eq!(
        berth(&["--fail-on", "warning", "--ignore", "BL001,bl004", "--ignore", "BL011"], dir.path(), None)
            .status
            .code(),
        Some(0)
    );

    // A .dockerignore next to the file silences BL011.
    std::fs::write(dir.path().join(".dockerignore"), ".git\n").unwrap();
    let stdout = text(&berth(&["Dockerfile"], dir.path(), None).stdout);
    assert!(!stdout.contains("BL011"), "{stdout}");

    // An error finding fails by default; JSON and SARIF carry it.
    std::fs::write(dir.path().join("bad.Dockerfile"), "FROM alpine:3.20\nUSER 1000\nEXPOSE 80:80\nHEALTHCHECK NONE\n")
        .unwrap();
    let out = berth(&["--format", "json", "bad.Dockerfile"], dir.path(), None);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["files"][0]["findings"][0]["rule"], "BL014");
    assert_eq!(json["files"][0]["findings"][0]["line"], 3);
    let out = berth(&["--format", "sarif", "--fail-on", "none", "bad.Dockerfile"], dir.path(), None);
    assert_eq!(out.status.code(), Some(0));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "BL014");
    assert_eq!(sarif["runs"][0]["results"][0]["level"], "error");

    // Standard input, a parse error (exit 2, the line on stderr), a missing file and an unknown rule id.
    let out = berth(&["-"], dir.path(), Some("FROM alpine:3.20\nUSER 1000\nFROM x\nRUNN true\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("-:4: error: unknown instruction \"RUNN\""), "{}", text(&out.stderr));
    assert_eq!(berth(&["-"], dir.path(), Some("FROM alpine:3.20\nUSER 1000\n")).status.code(), Some(0));
    let out = berth(&["missing.Dockerfile"], dir.path(), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read missing.Dockerfile"), "{}", text(&out.stderr));
    let out = berth(&["--ignore", "BL999"], dir.path(), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no rule \"BL999\""), "{}", text(&out.stderr));

    // One rule's explanation, and the rule list.
    let out = berth(&["--explain", "bl012"], dir.path(), None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("BL012 (cache-busting-order, warning): "), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("\n\nFix: copy the manifests first"), "{}", text(&out.stdout));
    let out = berth(&["--list-rules"], dir.path(), None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).lines().any(|l| l.starts_with("BL027  warning")), "{}", text(&out.stdout));
}

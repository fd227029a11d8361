//! The corpus: every `corpus/NAME.Dockerfile` is linted and its findings compared, exactly, with
//! `corpus/NAME.expected` (`LINE ID` per finding, or `parse-error LINE`; `negative: ID ...` names the rules the file
//! is a near miss for, which must not fire; `#` lines are comments). A `NAME.Dockerfile.dockerignore` beside a file
//! stands for its `.dockerignore`. Each rule needs at least two files where it fires and two declared near misses.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use berth_dockerfile::{Options, lint, rules};

struct Expected {
    findings: Vec<(usize, String)>,
    parse_error: Option<usize>,
    negative: Vec<String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn read_expected(path: &Path) -> Expected {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut expected = Expected { findings: Vec::new(), parse_error: None, negative: Vec::new() };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(ids) = line.strip_prefix("negative:") {
            expected.negative.extend(ids.split_whitespace().map(str::to_string));
        } else if let Some(n) = line.strip_prefix("parse-error ") {
            expected.parse_error = Some(n.trim().parse().unwrap());
        } else {
            let (n, id) = line.split_once(' ').unwrap_or_else(|| panic!("{}: bad line {line:?}", path.display()));
            expected.findings.push((n.parse().unwrap(), id.trim().to_string()));
        }
    }
    expected.findings.sort();
    expected
}

fn dockerfiles() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_gives_exactly_its_expected_findings() {
    let files = dockerfiles();
    assert!(files.len() >= 50, "the corpus has {} files, at least 50 wanted", files.len());
    let mut failures = Vec::new();
    let mut positive: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut negative: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let expected = read_expected(&file.with_extension("expected"));
        let source = std::fs::read_to_string(file).unwrap();
        let mut ignore_file = file.as_os_str().to_owned();
        ignore_file.push(".dockerignore");
        let options = Options { dockerignore: Some(Path::new(&ignore_file).exists()), ignore: Vec::new() };
        match (lint(&source, &options), expected.parse_error) {
            (Ok(findings), None) => {
                let mut got: Vec<(usize, String)> = findings.iter().map(|f| (f.line, f.rule.id.to_string())).collect();
                got.sort();
                if got != expected.findings {
                    let show = |v: &[(usize, String)]| {
                        v.iter().map(|(l, id)| format!("{l} {id}")).collect::<Vec<_>>().join(", ")
                    };
                    let messages: Vec<String> =
                        findings.iter().map(|f| format!("  {} {} {}", f.line, f.rule.id, f.message)).collect();
                    failures.push(format!(
                        "{name}: expected [{}]\n    got [{}]\n{}",
                        show(&expected.findings),
                        show(&got),
                        messages.join("\n")
                    ));
                }
                for (_, id) in &got {
                    positive.entry(id.clone()).or_default().insert(name.clone());
                }
                for id in &expected.negative {
                    if got.iter().any(|(_, g)| g == id) {
                        failures.push(format!("{name}: {id} is declared a near miss but fires"));
                    }
                    negative.entry(id.clone()).or_default().insert(name.clone());
                }
            }
            (Err(e), Some(line)) if e.line == line => {}
            (Err(e), want) => failures.push(format!("{name}: parse error {e} (expected {want:?})")),
            (Ok(_), Some(line)) => {
                failures.push(format!("{name}: parsed, but a parse error on line {line} was expected"))
            }
        }
    }
    for rule in rules::catalogue() {
        let pos = positive.get(rule.id).map_or(0, BTreeSet::len);
        let neg = negative.get(rule.id).map_or(0, BTreeSet::len);
        if pos < 2 || neg < 2 {
            failures
                .push(format!("{}: {pos} corpus files fire it and {neg} are near misses; 2 of each wanted", rule.id));
        }
    }
    assert!(failures.is_empty(), "{} corpus problems:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_rule_has_an_id_severity_explanation_and_fix() {
    let all = rules::catalogue();
    let ids: BTreeSet<&str> = all.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), all.len(), "rule ids are unique");
    for rule in all {
        assert!(rule.id.starts_with("BL") && rule.id.len() == 5, "{}", rule.id);
        assert!(!rule.name.is_empty() && !rule.summary.is_empty(), "{}", rule.id);
        assert!(rule.explanation.len() > 40 && rule.fix.len() > 10, "{}", rule.id);
    }
}

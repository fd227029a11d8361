//! Bad input gives errors with line numbers, never a panic: corpus files mutated at random (bytes deleted,
//! Dockerfile-significant fragments inserted, lines swapped) are parsed and linted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::Path;

use berth_dockerfile::report::{self, FileReport};
use berth_dockerfile::{Options, lint};
use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "\\",
    "\\\n",
    "`",
    "\n",
    "\r\n",
    "\"",
    "'",
    "$",
    "${",
    "}",
    "${A:-",
    "${A:?x}",
    "<<EOF",
    "<<-'X'",
    "\nEOF\n",
    "[",
    "]",
    "[\"a\",",
    "--from=",
    "--mount=type=cache,target=",
    "FROM ",
    "\nFROM x AS y\n",
    "RUN ",
    "COPY ",
    "#",
    "# escape=`\n",
    "# berth-lint ignore=",
    "AS",
    "=",
    " ",
    "\t",
    "é",
    "ONBUILD ",
    "HEALTHCHECK ",
    "&&",
    "|",
    "(",
];

fn corpus() -> &'static [String] {
    static FILES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    FILES.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    SwapLines(usize, usize),
}

fn apply(source: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    for m in mutations {
        match *m {
            Mutation::Delete(at, len) if !chars.is_empty() => {
                let at = at % chars.len();
                let end = (at + len).min(chars.len());
                chars.drain(at..end);
            }
            Mutation::Insert(at, fragment) => {
                let at = at % (chars.len() + 1);
                let f = FRAGMENTS[fragment % FRAGMENTS.len()];
                chars.splice(at..at, f.chars());
            }
            Mutation::SwapLines(a, b) => {
                let text: String = chars.iter().collect();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let (a, b) = (a % lines.len(), b % lines.len());
                lines.swap(a, b);
                chars = lines.join("\n").chars().collect();
            }
            Mutation::Delete(..) => {}
        }
    }
    chars.into_iter().collect()
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..12usize).prop_map(|(a, l)| Mutation::Delete(a, l)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, f)| Mutation::Insert(a, f)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_files_never_panic(file in any::<usize>(), mutations in prop::collection::vec(mutation(), 1..8)) {
        let files = corpus();
        let source = apply(&files[file % files.len()], &mutations);
        let lines = source.split('\n').count();
        for dockerignore in [None, Some(false)] {
            let outcome = lint(&source, &Options { dockerignore, ignore: Vec::new() });
            match &outcome {
                Ok(findings) => {
                    for f in findings {
                        prop_assert!(f.line >= 1 && f.line <= f.end_line && f.end_line <= lines, "{f:?} in {lines} lines");
                    }
                }
                Err(e) => prop_assert!(e.line >= 1 && e.line <= lines.max(1), "{e} in {lines} lines:\n{source}"),
            }
            if dockerignore.is_none() {
                continue;
            }
            // Every report renders, and the machine-readable ones stay valid JSON.
            let reports = [FileReport { path: "Dockerfile".into(), outcome }];
            let _ = report::text(&reports);
            prop_assert!(serde_json::from_str::<serde_json::Value>(&report::json(&reports)).is_ok());
            prop_assert!(serde_json::from_str::<serde_json::Value>(&report::sarif(&reports)).is_ok());
        }
    }
}

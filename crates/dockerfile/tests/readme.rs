//! README's `berth lint` rule table lists every rule with its severity, so the documentation cannot drift from
//! the code.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::Path;

#[test]
fn the_readme_rule_table_matches_the_rules() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let rows: Vec<(String, String)> = readme
        .lines()
        .filter(|l| l.starts_with("| `BL"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect();
    let rules = berth_dockerfile::rules::catalogue();
    let want: Vec<(String, String)> =
        rules.iter().map(|r| (r.id.to_string(), r.severity.as_str().to_string())).collect();
    assert_eq!(rows, want, "README's rule table (id, severity) is out of date");
}

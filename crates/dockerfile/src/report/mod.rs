//! Reports: findings of several files as text, JSON or SARIF 2.1.0, and the exit code they call for.

mod json;
mod sarif;
mod text;

pub use json::json;
pub use sarif::sarif;
pub use text::{errors, text};

use crate::error::ParseError;
use crate::rules::{Finding, Severity};

/// One linted file: its findings, or why it could not be read as a Dockerfile.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The path as given (`-` for standard input).
    pub path: String,
    /// The findings, or the parse error.
    pub outcome: Result<Vec<Finding>, ParseError>,
}

/// From which severity findings fail the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Findings of this severity or worse fail.
    AtLeast(Severity),
    /// Findings never fail (parse errors still do).
    Never,
}

/// Exit code 2: a file could not be parsed (or the command was misused).
pub const EXIT_PARSE_ERROR: u8 = 2;
/// Exit code 1: a finding at or above the `--fail-on` severity.
pub const EXIT_FINDINGS: u8 = 1;

/// The exit code for `reports`: 2 on any parse error, else 1 when a finding reaches `fail_on`, else 0.
pub fn exit_code(reports: &[FileReport], fail_on: FailOn) -> u8 {
    if reports.iter().any(|r| r.outcome.is_err()) {
        return EXIT_PARSE_ERROR;
    }
    let FailOn::AtLeast(threshold) = fail_on else { return 0 };
    let failing = reports.iter().flat_map(|r| r.outcome.iter().flatten()).any(|f| f.rule.severity >= threshold);
    if failing { EXIT_FINDINGS } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, lint};

    fn report(src: &str) -> FileReport {
        FileReport { path: "Dockerfile".into(), outcome: lint(src, &Options::default()) }
    }

    #[test]
    fn exit_codes_by_severity() {
        let warn_only = [report("FROM alpine\nUSER 1000\n")];
        assert_eq!(exit_code(&warn_only, FailOn::AtLeast(Severity::Error)), 0);
        assert_eq!(exit_code(&warn_only, FailOn::AtLeast(Severity::Warning)), 1);
        let error = [report("FROM alpine:3.20\nUSER 1000\nEXPOSE 70000\n")];
        assert_eq!(exit_code(&error, FailOn::AtLeast(Severity::Error)), 1);
        assert_eq!(exit_code(&error, FailOn::Never), 0);
        let broken = [report("FROM alpine:3.20\nBOGUS\n"), report("FROM alpine\n")];
        assert_eq!(exit_code(&broken, FailOn::Never), 2);
    }

    #[test]
    fn the_three_formats() {
        let reports = [
            report("FROM alpine\nUSER 1000\n"),
            FileReport { path: "bad".into(), outcome: Err(ParseError::new(3, "unknown instruction \"X\"")) },
        ];
        let t = text(&reports);
        assert!(t.contains("Dockerfile:1:1 warning BL001 base image `alpine` has no tag"), "{t}");
        assert!(!t.contains("bad:3"), "{t}");
        assert_eq!(errors(&reports), "bad:3: error: unknown instruction \"X\"\n");
        let j: serde_json::Value = serde_json::from_str(&json(&reports)).unwrap();
        assert_eq!(j["files"][0]["findings"][0]["rule"], "BL001");
        assert_eq!(j["files"][1]["error"]["line"], 3);
        let s: serde_json::Value = serde_json::from_str(&sarif(&reports)).unwrap();
        assert_eq!(s["version"], "2.1.0");
        let run = &s["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert!(rules.iter().any(|r| r["id"] == "BL001"));
        let result = &run["results"][0];
        assert_eq!(result["ruleId"], "BL001");
        assert_eq!(result["level"], "warning");
        assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 1);
        assert_eq!(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "Dockerfile");
        assert_eq!(rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"], "BL001");
        assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    }
}

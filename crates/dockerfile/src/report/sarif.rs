//! SARIF 2.1.0 (OASIS): one run whose driver lists every rule, one result per finding, parse errors as tool
//! execution notifications. Code-scanning services (GitHub, GitLab) read this.

use serde_json::{Value, json as j};

use super::FileReport;
use crate::rules::{self, Severity};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Style => "note",
    }
}

/// The findings as a SARIF 2.1.0 log.
pub fn sarif(reports: &[FileReport]) -> String {
    let catalogue = rules::catalogue();
    let rule_list: Vec<Value> = catalogue
        .iter()
        .map(|r| {
            j!({
                "id": r.id,
                "name": r.name,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.explanation },
                "help": { "text": format!("{} Fix: {}", r.explanation, r.fix) },
                "defaultConfiguration": { "level": level(r.severity) },
                "properties": { "severity": r.severity.as_str() },
            })
        })
        .collect();
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for report in reports {
        match &report.outcome {
            Ok(findings) => {
                for f in findings {
                    let index = catalogue.iter().position(|r| r.id == f.rule.id).unwrap_or(0);
                    results.push(j!({
                        "ruleId": f.rule.id,
                        "ruleIndex": index,
                        "level": level(f.rule.severity),
                        "message": { "text": format!("{} (fix: {})", f.message, f.rule.fix) },
                        "locations": [{
                            "physicalLocation": {
                                "artifactLocation": { "uri": report.path },
                                "region": { "startLine": f.line, "startColumn": f.column, "endLine": f.end_line },
                            }
                        }],
                    }));
                }
            }
            Err(e) => notifications.push(j!({
                "level": "error",
                "message": { "text": e.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": report.path },
                        "region": { "startLine": e.line },
                    }
                }],
            })),
        }
    }
    let log = j!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "berth-lint",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rule_list,
                }
            },
            "invocations": [{
                "executionSuccessful": notifications.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}

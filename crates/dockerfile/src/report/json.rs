//! JSON: `{"files": [{"path", "findings": [...]} | {"path", "error": {"line", "message"}}]}`.

use serde_json::{Value, json as j};

use super::FileReport;

/// The findings as one JSON document.
pub fn json(reports: &[FileReport]) -> String {
    let files: Vec<Value> = reports
        .iter()
        .map(|report| match &report.outcome {
            Ok(findings) => j!({
                "path": report.path,
                "findings": findings.iter().map(|f| j!({
                    "rule": f.rule.id,
                    "name": f.rule.name,
                    "severity": f.rule.severity.as_str(),
                    "line": f.line,
                    "column": f.column,
                    "endLine": f.end_line,
                    "message": f.message,
                    "fix": f.rule.fix,
                })).collect::<Vec<_>>(),
            }),
            Err(e) => j!({ "path": report.path, "error": { "line": e.line, "message": e.message } }),
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&j!({ "files": files })).unwrap_or_default();
    out.push('\n');
    out
}

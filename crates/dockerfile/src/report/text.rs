//! Text: `file:line:col severity id message`, then the fix, one finding per entry; parse errors go to standard
//! error (see [`errors`]).

use super::FileReport;

/// The findings as text lines.
pub fn text(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for report in reports {
        if let Ok(findings) = &report.outcome {
            for f in findings {
                out.push_str(&format!(
                    "{}:{}:{} {} {} {}\n    fix: {}\n",
                    report.path, f.line, f.column, f.rule.severity, f.rule.id, f.message, f.rule.fix
                ));
            }
        }
    }
    out
}

/// The parse errors, one `file:line: error: message` line each (for standard error, whatever the format).
pub fn errors(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for report in reports {
        if let Err(e) = &report.outcome {
            out.push_str(&format!("{}:{}: error: {}\n", report.path, e.line, e.message));
        }
    }
    out
}

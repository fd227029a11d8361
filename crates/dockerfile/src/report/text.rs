//! Text: `file:line:col severity id message`, then the fix, one finding per entry.

use super::FileReport;

/// The findings as text lines, parse errors as `file:line: error: message`.
pub fn text(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for report in reports {
        match &report.outcome {
            Ok(findings) => {
                for f in findings {
                    out.push_str(&format!(
                        "{}:{}:{} {} {} {}\n    fix: {}\n",
                        report.path, f.line, f.column, f.rule.severity, f.rule.id, f.message, f.rule.fix
                    ));
                }
            }
            Err(e) => out.push_str(&format!("{}:{}: error: {}\n", report.path, e.line, e.message)),
        }
    }
    out
}

//! `berth lint`: the Dockerfile linter's arguments.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// `berth lint [DOCKERFILE...] [--format text|json|sarif] [--fail-on SEVERITY] [--ignore ID]`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// The Dockerfiles to lint (`-` reads standard input); `./Dockerfile` when none is given.
    #[arg(value_name = "DOCKERFILE")]
    pub files: Vec<PathBuf>,
    /// How to print the findings: `text` (file:line:col severity id message, and the fix), `json` or `sarif`
    /// (SARIF 2.1.0, for code-scanning services).
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    pub format: LintFormat,
    /// Exit with 1 when a finding has this severity or a worse one (`none`: findings never fail). Files that do not
    /// parse exit with 2.
    #[arg(long, value_enum, default_value_t = LintFailOn::Error)]
    pub fail_on: LintFailOn,
    /// Rule ids not to report (repeat it, or separate ids with commas).
    #[arg(long, value_name = "ID", value_delimiter = ',', value_parser = parse_rule_id)]
    pub ignore: Vec<String>,
    /// The build context whose `.dockerignore` applies (default: each Dockerfile's directory; for `-`, the current
    /// directory). A `<Dockerfile>.dockerignore` next to the file counts too.
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// Prints the rules (id, severity, name, what they find) and exits.
    #[arg(long)]
    pub list_rules: bool,
    /// Prints one rule's explanation and fix and exits.
    #[arg(long, value_name = "ID", value_parser = parse_rule_id)]
    pub explain: Option<String>,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// One finding per line, with its fix.
    Text,
    /// One JSON document.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFailOn {
    /// Errors fail.
    Error,
    /// Warnings and errors fail.
    Warning,
    /// Info, warnings and errors fail.
    Info,
    /// Every finding fails.
    Style,
    /// No finding fails.
    None,
}

fn parse_rule_id(id: &str) -> Result<String, String> {
    berth_dockerfile::rules::find(id)
        .map(|rule| rule.id.to_string())
        .ok_or_else(|| format!("no rule {id:?} (`berth lint --list-rules` lists them)"))
}

//! `berth lint`: a Dockerfile parser and linter.
//!
//! # Background
//! Issue 18 turns Docker's build best practices (pinned base images, multi-stage builds, non-root users,
//! `.dockerignore`, `WORKDIR`, `COPY` over `ADD`, combined `RUN` layers, cleaned package caches, health checks, no
//! secrets in images) into rules a CI job can enforce, with explanations and fixes people can act on.
//!
//! # Design
//! - Parsing follows BuildKit's reading of the grammar, in layers: [`directives`] (`# escape=`, `# syntax=`),
//!   [`lines`] (continuations with the escape character, comments inside them, heredocs), [`instruction`] (flags,
//!   exec and shell forms, each instruction's arguments, raw), [`words`] (word splitting, quotes, `$VAR` and
//!   `${VAR:-default}` expansion), [`parse`] (the file). Every error carries its line; nothing panics on input
//!   (a property test feeds mutated corpus files).
//! - [`analysis`] reads the file as stages (bases, `AS` names, `--from`), expands arguments where Docker does, with
//!   global `ARG`s for `FROM` and the stage's `ARG`/`ENV` (inherited through stage bases) elsewhere.
//! - [`shell`] splits `RUN` scripts (shell form, `sh -c` exec form, heredocs fed to a shell) into simple commands.
//! - [`rules`]: one function per rule over the analysis, each with an id, severity, explanation and fix
//!   ([`rules::catalogue`]). [`suppress`] applies `# berth-lint ignore=` comments.
//! - [`report`] renders findings as text, JSON or SARIF 2.1.0. No I/O here: the CLI reads files and says whether
//!   a `.dockerignore` exists.
//!
//! # Limitations
//! `RUN` scripts are read, not executed or fully parsed: commands hidden in variables, functions or scripts the
//! `RUN` calls are not seen. Base images are not pulled, so what they contain (their `USER`, `HEALTHCHECK`) is
//! unknown, except for stages of the same file and images whose reference says `nonroot`, `unprivileged` or
//! `rootless`. Windows images and PowerShell scripts are parsed, but the package rules only know Linux package
//! managers. BuildKit's newer `${VAR#pattern}`, `${VAR%pattern}` and `${VAR/a/b}` expansions are refused.

pub mod analysis;
pub mod directives;
mod error;
pub mod instruction;
pub mod lines;
pub mod parse;
pub mod report;
pub mod rules;
pub mod shell;
pub mod suppress;
pub mod words;

pub use error::ParseError;
pub use rules::{Finding, RuleInfo, Severity};

/// What the linter knows besides the Dockerfile's text.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Whether a `.dockerignore` applies (None: unknown, and the rule that needs it stays silent).
    pub dockerignore: Option<bool>,
    /// Rule ids not to report.
    pub ignore: Vec<String>,
}

/// Parses and lints a Dockerfile; findings sorted by line, column and rule id.
pub fn lint(source: &str, options: &Options) -> Result<Vec<Finding>, ParseError> {
    let file = parse::parse(source)?;
    let suppressions = suppress::Suppressions::read(&file);
    let analysis = analysis::analyse(file)?;
    let cx = rules::Context::new(&analysis, options.dockerignore);
    let mut findings: Vec<Finding> = rules::check_all(&cx)
        .into_iter()
        .chain(suppressions.problems.iter().cloned())
        .filter(|f| !suppressions.hides(f))
        .filter(|f| !options.ignore.iter().any(|id| id.eq_ignore_ascii_case(f.rule.id)))
        .collect();
    findings.sort_by(|a, b| (a.line, a.column, a.rule.id).cmp(&(b.line, b.column, b.rule.id)));
    Ok(findings)
}

//! The rules: each has an id, a severity, an explanation and a fix, and a check over the analysed file.

mod base;
mod files;
mod packages;
mod run;
mod runtime;
mod secrets;
mod stages;

use std::fmt;

use crate::analysis::Analysis;
use crate::instruction::{Body, CommandForm, Instruction, Keyword};
use crate::shell::{self, Script};

/// How much a finding matters. Ordered: `Style < Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Taste and tidiness.
    Style,
    /// Worth knowing; often deliberate.
    Info,
    /// Likely a problem: bigger, slower, less secure or less reproducible images.
    Warning,
    /// The build fails, or the image is broken or leaks a secret.
    Error,
}

impl Severity {
    /// The lowercase name (`error`, `warning`, `info`, `style`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Style => "style",
        }
    }

    /// The severity named `name`.
    pub fn parse(name: &str) -> Option<Severity> {
        [Severity::Error, Severity::Warning, Severity::Info, Severity::Style].into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo {
    /// The id (`BL001`).
    pub id: &'static str,
    /// A short kebab-case name.
    pub name: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// One line: what it finds.
    pub summary: &'static str,
    /// Why it matters.
    pub explanation: &'static str,
    /// How to fix it.
    pub fix: &'static str,
}

/// A rule: what it is, and its check.
pub struct Rule {
    /// What it is.
    pub info: RuleInfo,
    check: fn(&Context<'_>, &mut Sink<'_>),
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule that found it.
    pub rule: &'static RuleInfo,
    /// The 1-based line (the first line of the instruction).
    pub line: usize,
    /// The 1-based column.
    pub column: usize,
    /// The 1-based last line of the instruction.
    pub end_line: usize,
    /// What is wrong here.
    pub message: String,
}

/// What a check reads: the analysed file, the scripts of its `RUN`s, and what is known about the build context.
pub struct Context<'a> {
    /// The analysed file.
    pub analysis: &'a Analysis,
    /// Whether a `.dockerignore` applies to this Dockerfile (None: unknown, e.g. no build context).
    pub dockerignore: Option<bool>,
    scripts: Vec<Option<Script>>,
}

impl<'a> Context<'a> {
    /// The context for `analysis`.
    pub fn new(analysis: &'a Analysis, dockerignore: Option<bool>) -> Self {
        let scripts = analysis.file.instructions.iter().map(run_script).collect();
        Context { analysis, dockerignore, scripts }
    }

    /// The script a `RUN` at `index` runs (None for other instructions).
    pub fn script(&self, index: usize) -> Option<&Script> {
        self.scripts.get(index).and_then(Option::as_ref)
    }

    /// The instruction at `index`.
    pub fn inst(&self, index: usize) -> &'a Instruction {
        &self.analysis.file.instructions[index]
    }

    /// The expanded body of the instruction at `index`.
    pub fn body(&self, index: usize) -> &'a Body {
        &self.analysis.expanded[index].body
    }

    /// Whether the expansion of the instruction at `index` is fully known (no build-time or undeclared variables).
    pub fn known(&self, index: usize) -> bool {
        let e = &self.analysis.expanded[index];
        !e.unknown && e.missing.is_empty()
    }

    /// The indices of the instructions of stage `stage` after its `FROM`, with keyword `keyword`.
    pub fn in_stage(&self, stage: usize, keyword: Keyword) -> impl Iterator<Item = usize> + '_ {
        self.analysis.stages[stage].body.clone().filter(move |&i| self.inst(i).keyword == keyword)
    }

    /// The `RUN`s of stage `stage` with their scripts.
    pub fn runs(&self, stage: usize) -> impl Iterator<Item = (usize, &Script)> + '_ {
        self.in_stage(stage, Keyword::Run).filter_map(move |i| self.script(i).map(|s| (i, s)))
    }

    /// Every `RUN` of the file with its script.
    pub fn all_runs(&self) -> impl Iterator<Item = (usize, &Script)> + '_ {
        (0..self.scripts.len()).filter_map(move |i| self.script(i).map(|s| (i, s)))
    }
}

/// Where a check reports.
pub struct Sink<'a> {
    rule: &'static RuleInfo,
    analysis: &'a Analysis,
    out: &'a mut Vec<Finding>,
}

impl Sink<'_> {
    /// Reports `message` at the instruction `index`.
    pub fn at(&mut self, index: usize, message: impl Into<String>) {
        let span = self.analysis.file.instructions[index].span;
        self.out.push(Finding {
            rule: self.rule,
            line: span.start_line,
            column: span.column,
            end_line: span.end_line,
            message: message.into(),
        });
    }
}

static RULES: [&Rule; 27] = [
    &base::UNPINNED_BASE,
    &files::ADD_INSTEAD_OF_COPY,
    &run::RUN_CD,
    &runtime::ROOT_USER,
    &run::CONSECUTIVE_RUN,
    &packages::PACKAGE_CACHE,
    &packages::APT_RECOMMENDS,
    &packages::APT_WITHOUT_UPDATE,
    &secrets::SECRET_VALUE,
    &secrets::SECRET_VARIABLE,
    &files::COPY_CONTEXT_WITHOUT_DOCKERIGNORE,
    &files::CACHE_BUSTING_ORDER,
    &runtime::MISSING_HEALTHCHECK,
    &runtime::INVALID_EXPOSE,
    &runtime::SHELL_FORM_COMMAND,
    &stages::BUILD_TOOLS_IN_FINAL_STAGE,
    &runtime::MAINTAINER,
    &packages::PACKAGE_UPGRADE,
    &run::SUDO,
    &packages::INSTALL_WITHOUT_YES,
    &files::RELATIVE_WORKDIR,
    &base::DUPLICATE_STAGE_NAME,
    &base::UNKNOWN_COPY_FROM,
    &base::UNDEFINED_FROM_ARG,
    &files::MULTIPLE_SOURCES_DEST,
    &runtime::REPEATED_INSTRUCTION,
    &run::PIPE_WITHOUT_PIPEFAIL,
];

/// BL028: problems with `# berth-lint` comments themselves (reported by [`crate::suppress`], not by a check).
static LINT_COMMENT: RuleInfo = RuleInfo {
    id: "BL028",
    name: "lint-comment",
    severity: Severity::Warning,
    summary: "a `# berth-lint` comment that is malformed or names an unknown rule",
    explanation: "A suppression that does not parse, or names a rule that does not exist, silently suppresses \
                  nothing; the finding it meant to hide is still reported, or a typo hides the wrong one.",
    fix: "write `# berth-lint ignore=BL001,BL005` on the line before the instruction, or \
          `# berth-lint ignore-file=BL001` anywhere for the whole file, with ids from `berth lint --list-rules`",
};

/// Every rule's description, in id order.
pub fn catalogue() -> Vec<&'static RuleInfo> {
    let mut all: Vec<&'static RuleInfo> = RULES.iter().map(|r| &r.info).collect();
    all.push(&LINT_COMMENT);
    all
}

/// The rule with id `id` (case-insensitive).
pub fn find(id: &str) -> Option<&'static RuleInfo> {
    catalogue().into_iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// The `BL028` rule's description.
pub fn lint_comment_rule() -> &'static RuleInfo {
    &LINT_COMMENT
}

/// Runs every rule over `cx`.
pub fn check_all(cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for rule in RULES.iter() {
        let mut sink = Sink { rule: &rule.info, analysis: cx.analysis, out: &mut out };
        (rule.check)(cx, &mut sink);
    }
    out
}

/// The script a `RUN` runs: its shell form, `sh -c`'s argument in exec form, or the heredoc bodies it feeds a shell.
fn run_script(inst: &Instruction) -> Option<Script> {
    if inst.keyword != Keyword::Run {
        return None;
    }
    let Body::Command(form) = &inst.body else { return None };
    let is_shell = |w: &str| matches!(w.rsplit('/').next(), Some("sh" | "bash" | "ash" | "dash" | "zsh"));
    let mut text = match form {
        CommandForm::Shell(s) => s.clone(),
        CommandForm::Exec(argv) => match argv.as_slice() {
            [sh, flag, script, ..] if is_shell(sh) && flag.starts_with('-') && flag.contains('c') => script.clone(),
            _ => argv.iter().map(|w| format!("'{}'", w.replace('\'', "'\\''"))).collect::<Vec<_>>().join(" "),
        },
    };
    if !inst.heredocs.is_empty() {
        let words: Vec<&str> = text.split_whitespace().filter(|w| !w.contains("<<")).collect();
        let feeds_shell = words.iter().all(|w| is_shell(w) || w.starts_with('-'));
        text = if feeds_shell {
            inst.heredocs.iter().map(|h| h.body.as_str()).collect::<Vec<_>>().join("\n")
        } else {
            words.join(" ")
        };
    }
    Some(shell::parse(&text))
}

impl Rule {
    const fn new(info: RuleInfo, check: fn(&Context<'_>, &mut Sink<'_>)) -> Rule {
        Rule { info, check }
    }
}

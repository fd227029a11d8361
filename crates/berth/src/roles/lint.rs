//! `berth lint`: reads the Dockerfiles, lints each with `berth_dockerfile`, prints the report and exits by severity.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use berth_dockerfile::report::{self, FailOn, FileReport};
use berth_dockerfile::{Options, Severity};

use crate::cli::{LintArgs, LintFailOn, LintFormat};

/// Runs `berth lint`.
pub fn run(args: LintArgs) -> ExitCode {
    if args.list_rules {
        for rule in berth_dockerfile::rules::catalogue() {
            println!("{}  {:<8} {:<34} {}", rule.id, rule.severity.as_str(), rule.name, rule.summary);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(rule) = args.explain.as_deref().and_then(berth_dockerfile::rules::find) {
        println!(
            "{} ({}, {}): {}\n\n{}\n\nFix: {}",
            rule.id, rule.name, rule.severity, rule.summary, rule.explanation, rule.fix
        );
        return ExitCode::SUCCESS;
    }
    let files = if args.files.is_empty() { vec![PathBuf::from("Dockerfile")] } else { args.files };
    let mut reports = Vec::new();
    let mut unreadable = false;
    for path in &files {
        let stdin = path.as_os_str() == "-";
        let source = if stdin { read_stdin() } else { std::fs::read_to_string(path) };
        let source = match source {
            Ok(source) => source,
            Err(error) => {
                eprintln!("berth: cannot read {}: {error}", path.display());
                unreadable = true;
                continue;
            }
        };
        let options = Options {
            dockerignore: Some(has_dockerignore(path, stdin, args.context.as_deref())),
            ignore: args.ignore.clone(),
        };
        reports
            .push(FileReport { path: path.display().to_string(), outcome: berth_dockerfile::lint(&source, &options) });
    }
    let rendered = match args.format {
        LintFormat::Text => report::text(&reports),
        LintFormat::Json => report::json(&reports),
        LintFormat::Sarif => report::sarif(&reports),
    };
    print!("{rendered}");
    eprint!("{}", report::errors(&reports));
    let fail_on = match args.fail_on {
        LintFailOn::Error => FailOn::AtLeast(Severity::Error),
        LintFailOn::Warning => FailOn::AtLeast(Severity::Warning),
        LintFailOn::Info => FailOn::AtLeast(Severity::Info),
        LintFailOn::Style => FailOn::AtLeast(Severity::Style),
        LintFailOn::None => FailOn::Never,
    };
    let code = if unreadable { report::EXIT_PARSE_ERROR } else { report::exit_code(&reports, fail_on) };
    ExitCode::from(code)
}

fn read_stdin() -> std::io::Result<String> {
    let mut source = String::new();
    std::io::stdin().read_to_string(&mut source)?;
    Ok(source)
}

/// Whether a `.dockerignore` applies: in the context directory (the file's own by default), or BuildKit's
/// `<Dockerfile>.dockerignore` beside the file.
fn has_dockerignore(path: &Path, stdin: bool, context: Option<&Path>) -> bool {
    let dir = match context {
        Some(dir) => dir.to_path_buf(),
        None if stdin => PathBuf::from("."),
        None => path.parent().map_or_else(
            || PathBuf::from("."),
            |p| if p.as_os_str().is_empty() { PathBuf::from(".") } else { p.to_path_buf() },
        ),
    };
    let beside = !stdin && {
        let mut name = path.as_os_str().to_owned();
        name.push(".dockerignore");
        Path::new(&name).is_file()
    };
    dir.join(".dockerignore").is_file() || beside
}

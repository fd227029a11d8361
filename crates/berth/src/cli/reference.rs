//! The options reference of README.md, generated from the clap definitions: `berth __options-reference` prints it
//! (hidden: a maintainer's tool, not a user's command), `tools/readme-options` writes it into README.md between
//! its markers (`<!-- options-reference:begin ... -->` and `<!-- options-reference:end -->`), and the test
//! `readme_options.rs` fails when README.md holds anything else, so the tables never drift from the flags.

use clap::{Arg, ArgAction, Command};
use std::fmt::Write;

/// The reference of every visible command under `root` (`berth` and its subcommands, depth first): one table per
/// command with options, each option with its value, default, environment variable and the first paragraph of its
/// help.
pub fn markdown(root: &Command) -> String {
    let mut out = String::new();
    walk(root, root.get_name(), &mut out);
    out
}

fn walk(command: &Command, path: &str, out: &mut String) {
    let args: Vec<&Arg> = command.get_arguments().filter(|a| shown(a)).collect();
    let about = command.get_about().map(|a| first_paragraph(&a.to_string())).unwrap_or_default();
    if !args.is_empty() {
        let _ = writeln!(out, "#### `{path}`\n");
        if !about.is_empty() {
            let _ = writeln!(out, "{about}\n");
        }
        out.push_str("| option | default | what |\n|---|---|---|\n");
        for arg in args {
            let _ = writeln!(out, "| {} | {} | {} |", usage(arg), default(arg), cell(&help(arg)));
        }
        out.push('\n');
    }
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        walk(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// Options and positionals a user sees (not `--help`/`--version`, not hidden ones).
fn shown(arg: &Arg) -> bool {
    !arg.is_hide_set() && !matches!(arg.get_id().as_str(), "help" | "version")
}

/// `` `--name VALUE` ``, `` `-s, --name` ``, or `` `NAME` `` for a positional.
fn usage(arg: &Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|names| names.iter().map(|n| n.as_str().to_string()).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase().replace('-', "_"));
    let takes_value = !matches!(
        arg.get_action(),
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count | ArgAction::Help | ArgAction::Version
    );
    match (arg.get_short(), arg.get_long()) {
        (_, None) => format!("`{value}`"),
        (short, Some(long)) => {
            let short = short.map(|s| format!("-{s}, ")).unwrap_or_default();
            let repeat = if matches!(arg.get_action(), ArgAction::Append) { " (repeatable)" } else { "" };
            if takes_value { format!("`{short}--{long} {value}`{repeat}") } else { format!("`{short}--{long}`") }
        }
    }
}

/// The default and the environment variable, if any.
fn default(arg: &Arg) -> String {
    let values: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    let mut parts = Vec::new();
    if !values.is_empty() && !values.iter().all(|v| v == "false") {
        parts.push(format!("`{}`", values.join(",")));
    }
    if let Some(env) = arg.get_env() {
        parts.push(format!("env `{}`", env.to_string_lossy()));
    }
    parts.join(", ")
}

fn help(arg: &Arg) -> String {
    arg.get_long_help().or(arg.get_help()).map(|h| first_paragraph(&h.to_string())).unwrap_or_default()
}

/// The text up to the first blank line, on one line.
fn first_paragraph(text: &str) -> String {
    text.split("\n\n").next().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text safe inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_rows_with_value_default_and_environment() {
        let command = Command::new("tool")
            .about("A tool.\n\nMore.")
            .arg(Arg::new("data-dir").long("data-dir").value_name("DIR").default_value("./d").env("D").help("Where."))
            .arg(Arg::new("dev").long("dev").action(ArgAction::SetTrue).help("Dev | mode."))
            .arg(Arg::new("tag").long("tag").action(ArgAction::Append).help("A tag."))
            .arg(Arg::new("secret").long("secret").hide(true))
            .subcommand(Command::new("sub").arg(Arg::new("file").help("A file.")));
        let text = markdown(&command);
        assert!(text.starts_with("#### `tool`\n\nA tool.\n\n| option | default | what |"), "{text}");
        assert!(text.contains("| `--data-dir DIR` | `./d`, env `D` | Where. |"), "{text}");
        assert!(text.contains("| `--dev` |  | Dev \\| mode. |"), "{text}");
        assert!(text.contains("| `--tag TAG` (repeatable) |  | A tag. |"), "{text}");
        assert!(!text.contains("secret"), "hidden options are not shown: {text}");
        assert!(
            text.contains("#### `tool sub`\n\n| option | default | what |\n|---|---|---|\n| `FILE` |  | A file. |")
        );
    }
}

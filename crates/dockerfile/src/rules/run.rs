//! Rules about how `RUN` instructions are written.

use super::{Context, Rule, RuleInfo, Severity, Sink};
use crate::instruction::{Body, CommandForm, Keyword};

/// BL003: `cd` in a `RUN` instead of `WORKDIR`.
pub(super) static RUN_CD: Rule = Rule::new(
    RuleInfo {
        id: "BL003",
        name: "run-cd",
        severity: Severity::Warning,
        summary: "`RUN cd ...` instead of `WORKDIR`",
        explanation: "`cd` lasts only until the end of its `RUN`: the next instruction starts in the old directory \
                      again, which readers (and later edits) easily miss. `WORKDIR` changes it for every following \
                      instruction and documents it.",
        fix: "use `WORKDIR /path` before the commands (or a subshell `(cd dir && make)` for a one-off)",
    },
    run_cd,
);

fn run_cd(cx: &Context<'_>, out: &mut Sink<'_>) {
    for (index, script) in cx.all_runs() {
        if let Some(cd) = script.commands.iter().find(|c| !c.subshell && c.program() == "cd") {
            let dir = cd.args().first().map_or(String::new(), |d| format!(" {d}"));
            out.at(index, format!("`cd{dir}` in RUN: use WORKDIR"));
        }
    }
}

/// BL005: consecutive `RUN`s that could be one layer.
pub(super) static CONSECUTIVE_RUN: Rule = Rule::new(
    RuleInfo {
        id: "BL005",
        name: "consecutive-run",
        severity: Severity::Style,
        summary: "consecutive `RUN` instructions that could be combined",
        explanation: "Each `RUN` is a layer. Consecutive ones with the same options make more layers than needed, \
                      and files one creates and the next deletes still ship in the first.",
        fix: "join them with `&&` (and `\\` line continuations) in one `RUN`, or use a heredoc `RUN <<EOF`",
    },
    consecutive_run,
);

fn consecutive_run(cx: &Context<'_>, out: &mut Sink<'_>) {
    for stage in &cx.analysis.stages {
        let body: Vec<usize> = stage.body.clone().collect();
        let mut i = 0;
        while i + 1 < body.len() {
            let (a, b) = (cx.inst(body[i]), cx.inst(body[i + 1]));
            let same = a.keyword == Keyword::Run && b.keyword == Keyword::Run && a.flags == b.flags;
            if !same {
                i += 1;
                continue;
            }
            let mut end = i + 1;
            while end + 1 < body.len()
                && cx.inst(body[end + 1]).keyword == Keyword::Run
                && cx.inst(body[end + 1]).flags == a.flags
            {
                end += 1;
            }
            let last = cx.inst(body[end]).span.start_line;
            out.at(
                body[i + 1],
                format!(
                    "{} consecutive RUN instructions (lines {}-{last}) make a layer each",
                    end - i + 1,
                    a.span.start_line
                ),
            );
            i = end + 1;
        }
    }
}

/// BL019: `sudo` in a `RUN`.
pub(super) static SUDO: Rule = Rule::new(
    RuleInfo {
        id: "BL019",
        name: "sudo",
        severity: Severity::Warning,
        summary: "`sudo` in `RUN`",
        explanation: "Build steps already run as the current `USER`; `sudo` adds a setuid binary and a TTY-bound, \
                      unpredictable privilege change to the image.",
        fix: "switch with `USER root` for the steps that need it and back with `USER app` after (or `gosu` at run \
              time)",
    },
    sudo,
);

fn sudo(cx: &Context<'_>, out: &mut Sink<'_>) {
    for (index, script) in cx.all_runs() {
        if script
            .commands
            .iter()
            .any(|c| c.words.iter().take_while(|w| w.contains('=') || *w == "sudo").any(|w| w == "sudo"))
        {
            out.at(index, "sudo in RUN: use USER to change users");
        }
    }
}

/// BL027: a pipe in a `RUN` whose failure would go unnoticed.
pub(super) static PIPE_WITHOUT_PIPEFAIL: Rule = Rule::new(
    RuleInfo {
        id: "BL027",
        name: "pipe-without-pipefail",
        severity: Severity::Warning,
        summary: "`RUN` with a pipe and no `pipefail`",
        explanation: "A pipeline's status is its last command's: `curl -fsSL URL | sh` succeeds when the download \
                      fails and `sh` reads nothing, so the build goes on without what it was meant to install.",
        fix: "`SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]` before the RUN (ash: `-o pipefail` too), or start \
              the script with `set -o pipefail &&`",
    },
    pipe_without_pipefail,
);

fn pipe_without_pipefail(cx: &Context<'_>, out: &mut Sink<'_>) {
    for stage in &cx.analysis.stages {
        let chain = cx.analysis.chain(stage.index);
        for index in stage.body.clone() {
            let inst = cx.inst(index);
            if inst.keyword != Keyword::Run || matches!(inst.body, Body::Command(CommandForm::Exec(_))) {
                continue;
            }
            // The SHELL in force: the last one before this RUN in this stage or, failing that, in its base stages.
            let shell = chain.iter().find_map(|&s| {
                cx.analysis.stages[s].body.clone().rev().find(|&i| i < index && cx.inst(i).keyword == Keyword::Shell)
            });
            if let Some(shell) = shell {
                let Body::Shell(argv) = &cx.inst(shell).body else { continue };
                let posix = argv
                    .first()
                    .is_some_and(|p| matches!(p.rsplit('/').next(), Some("sh" | "bash" | "ash" | "dash" | "zsh")));
                if !posix || argv.iter().any(|a| a == "pipefail" || a.contains("pipefail")) {
                    continue;
                }
            }
            let Some(script) = cx.script(index) else { continue };
            let set_pipefail =
                script.commands.iter().any(|c| c.program() == "set" && c.args().iter().any(|a| a == "pipefail"));
            if script.has_pipe && !set_pipefail {
                out.at(index, "a pipe in RUN without pipefail: a failure before the last command is ignored");
            }
        }
    }
}

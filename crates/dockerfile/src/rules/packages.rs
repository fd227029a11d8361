//! Rules about system and language package managers in `RUN`.

use super::{Context, Rule, RuleInfo, Severity, Sink};
use crate::analysis::Analysis;
use crate::instruction::Keyword;
use crate::shell::{Command, Script};
use crate::words::Var;

fn apt_install(c: &Command) -> bool {
    c.is(&["apt-get", "apt"], &["install"])
}

/// The `--mount=type=cache` targets of the RUN at `index`.
fn cache_targets(cx: &Context<'_>, index: usize) -> Vec<String> {
    cx.inst(index)
        .flags
        .iter()
        .filter(|f| f.name == "mount")
        .filter_map(|f| f.value.as_deref())
        .filter(|v| v.split(',').any(|kv| kv == "type=cache"))
        .filter_map(|v| {
            v.split(',').find_map(|kv| {
                kv.strip_prefix("target=")
                    .or_else(|| kv.strip_prefix("dst="))
                    .or_else(|| kv.strip_prefix("destination="))
            })
        })
        .map(str::to_string)
        .collect()
}

/// Whether the script removes a path starting with `prefix` (`rm -rf /var/lib/apt/lists/*`).
fn removes(script: &Script, prefix: &str) -> bool {
    script.commands.iter().any(|c| c.program() == "rm" && c.mentions(prefix))
}

/// Whether the stage of instruction `index` sets `PIP_NO_CACHE_DIR` (pip then keeps no cache).
fn pip_cache_off(analysis: &Analysis, index: usize) -> bool {
    let Some(stage) = analysis.stage_of[index] else { return false };
    let set_before = analysis.stages[stage].body.start..index;
    let in_stage = set_before.into_iter().any(|i| {
        analysis.file.instructions[i].keyword == Keyword::Env
            && analysis.file.instructions[i].text.contains("PIP_NO_CACHE_DIR")
    });
    in_stage
        || analysis
            .chain(stage)
            .iter()
            .skip(1)
            .any(|s| matches!(analysis.env[*s].get("PIP_NO_CACHE_DIR"), Some(Var::Value(_))))
}

/// BL006: package caches left in the layer that created them.
pub(super) static PACKAGE_CACHE: Rule = Rule::new(
    RuleInfo {
        id: "BL006",
        name: "package-cache-not-cleaned",
        severity: Severity::Warning,
        summary: "package manager cache not cleaned in the same layer",
        explanation: "Files deleted in a later layer still ship in the earlier one. apt lists, apk, yum/dnf and \
                      zypper caches and pip's wheel cache add tens of megabytes that nothing in the image uses.",
        fix: "clean in the same RUN: `rm -rf /var/lib/apt/lists/*` after apt-get, `apk add --no-cache`, \
              `yum clean all`/`dnf clean all`, `zypper clean -a`, `pip install --no-cache-dir`; or use \
              `RUN --mount=type=cache,target=...`",
    },
    package_cache,
);

fn package_cache(cx: &Context<'_>, out: &mut Sink<'_>) {
    for (index, script) in cx.all_runs() {
        let caches = cache_targets(cx, index);
        let cached = |prefix: &str| caches.iter().any(|t| t.starts_with(prefix));
        let mut problems = Vec::new();
        let has = |f: &dyn Fn(&Command) -> bool| script.commands.iter().any(f);
        if has(&apt_install) && !removes(script, "/var/lib/apt/lists") && !cached("/var/lib/apt") {
            problems.push("apt lists stay in the layer (no `rm -rf /var/lib/apt/lists/*`)");
        }
        let apk_add = |c: &Command| c.is(&["apk"], &["add"]) && !c.mentions("--no-cache");
        if has(&apk_add) && !removes(script, "/var/cache/apk") && !cached("/var/cache/apk") {
            problems.push("apk keeps its index cache (no `--no-cache`)");
        }
        let managers = ["yum", "dnf", "microdnf", "tdnf"];
        let rpm_install = |c: &Command| c.is(&managers, &["install", "update", "upgrade", "groupinstall"]);
        let rpm_clean = |c: &Command| c.is(&managers, &["clean"]);
        if has(&rpm_install)
            && !has(&rpm_clean)
            && !removes(script, "/var/cache/yum")
            && !removes(script, "/var/cache/dnf")
            && !cached("/var/cache/")
        {
            problems.push("the yum/dnf cache stays in the layer (no `clean all`)");
        }
        if has(&|c: &Command| c.is(&["zypper"], &["install", "in"]))
            && !has(&|c: &Command| c.is(&["zypper"], &["clean", "cc"]))
        {
            problems.push("the zypper cache stays in the layer (no `zypper clean`)");
        }
        let pip_install = |c: &Command| c.is(&["pip", "pip3"], &["install"]) && !c.mentions("--no-cache-dir");
        if has(&pip_install) && !pip_cache_off(cx.analysis, index) && !caches.iter().any(|t| t.contains(".cache/pip")) {
            problems.push("pip keeps its download cache (no `--no-cache-dir`)");
        }
        if !problems.is_empty() {
            out.at(index, problems.join("; "));
        }
    }
}

/// BL007: `apt-get install` without `--no-install-recommends`.
pub(super) static APT_RECOMMENDS: Rule = Rule::new(
    RuleInfo {
        id: "BL007",
        name: "apt-install-recommends",
        severity: Severity::Info,
        summary: "`apt-get install` without `--no-install-recommends`",
        explanation: "By default apt also installs the packages the requested ones recommend: often documentation, \
                      extra tools and libraries the image never uses.",
        fix: "`apt-get install -y --no-install-recommends <packages>`",
    },
    apt_recommends,
);

fn apt_recommends(cx: &Context<'_>, out: &mut Sink<'_>) {
    for (index, script) in cx.all_runs() {
        let bare = script.commands.iter().any(|c| {
            apt_install(c)
                && !c.has_option(&["--no-install-recommends"], None)
                && !c
                    .args()
                    .iter()
                    .any(|a| a.contains("Install-Recommends=false") || a.contains("Install-Recommends=0"))
        });
        if bare {
            out.at(index, "apt-get install also installs recommended packages");
        }
    }
}

/// BL008: `apt-get install` without `apt-get update` in the same layer.
pub(super) static APT_WITHOUT_UPDATE: Rule = Rule::new(
    RuleInfo {
        id: "BL008",
        name: "apt-install-without-update",
        severity: Severity::Warning,
        summary: "`apt-get install` without `apt-get update` in the same `RUN`",
        explanation: "Package lists from an earlier layer are as old as that cached layer: the install then asks \
                      for versions the mirror no longer has and fails, or installs stale ones. Base images ship \
                      without lists at all.",
        fix: "`RUN apt-get update && apt-get install -y --no-install-recommends <packages> && rm -rf /var/lib/apt/lists/*`",
    },
    apt_without_update,
);

fn apt_without_update(cx: &Context<'_>, out: &mut Sink<'_>) {
    for (index, script) in cx.all_runs() {
        let Some(install) = script.commands.iter().position(apt_install) else { continue };
        let updated = script.commands[..install].iter().any(|c| c.is(&["apt-get", "apt"], &["update"]));
        if !updated {
            out.at(index, "apt-get install without apt-get update before it in the same RUN");
        }
    }
}

/// BL018: upgrading every installed package in the image.
pub(super) static PACKAGE_UPGRADE: Rule = Rule::new(
    RuleInfo {
        id: "BL018",
        name: "package-upgrade",
        severity: Severity::Info,
        summary: "`apt-get upgrade` (or `apk upgrade`, `yum update`) in the image",
        explanation: "Upgrading everything makes the image depend on the day it was built and duplicates, in a \
                      layer, the base image's files; security fixes come better from a newer base image.",
        fix: "use a recent, pinned base image and rebuild it regularly; install specific versions when one package \
              must be newer",
    },
    package_upgrade,
);

fn package_upgrade(cx: &Context<'_>, out: &mut Sink<'_>) {
    for (index, script) in cx.all_runs() {
        let upgrade = script.commands.iter().find(|c| {
            c.is(&["apt-get", "apt"], &["upgrade", "dist-upgrade", "full-upgrade"])
                || c.is(&["apk"], &["upgrade"])
                || (c.is(&["yum", "dnf", "microdnf"], &["update", "upgrade"])
                    && c.args().iter().filter(|a| !a.starts_with('-')).count() == 1)
        });
        if let Some(c) = upgrade {
            out.at(
                index,
                format!("`{} {}` upgrades every package of the base image", c.program(), c.subcommand().unwrap_or("")),
            );
        }
    }
}

/// BL020: an install that would wait for a "yes" no one types.
pub(super) static INSTALL_WITHOUT_YES: Rule = Rule::new(
    RuleInfo {
        id: "BL020",
        name: "install-without-yes",
        severity: Severity::Error,
        summary: "`apt-get install`/`yum install` without `-y`",
        explanation: "A build has no terminal to answer the confirmation prompt: apt-get aborts and yum/dnf give up, \
                      so the build fails.",
        fix: "add `-y`: `apt-get install -y ...`, `dnf install -y ...`",
    },
    install_without_yes,
);

fn install_without_yes(cx: &Context<'_>, out: &mut Sink<'_>) {
    for (index, script) in cx.all_runs() {
        let prompts = script.commands.iter().find(|c| {
            let apt = c
                .is(&["apt-get", "apt"], &["install", "upgrade", "dist-upgrade", "remove", "purge", "autoremove"])
                && !c.has_option(&["--yes", "--assume-yes", "-qq", "-q=2"], Some('y'))
                && !c.args().iter().any(|a| a.contains("Assume-Yes=true"));
            let rpm = c.is(&["yum", "dnf", "tdnf"], &["install", "update", "upgrade", "remove", "groupinstall"])
                && !c.has_option(&["--assumeyes"], Some('y'));
            let zypper =
                c.is(&["zypper"], &["install", "in"]) && !c.words.iter().any(|w| w == "-n" || w == "--non-interactive");
            apt || rpm || zypper
        });
        if let Some(c) = prompts {
            out.at(
                index,
                format!(
                    "`{} {}` asks for confirmation and the build cannot answer",
                    c.program(),
                    c.subcommand().unwrap_or("")
                ),
            );
        }
    }
}

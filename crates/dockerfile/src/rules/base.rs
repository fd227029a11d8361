//! Rules about stages and what they are built from.

use super::{Context, Rule, RuleInfo, Severity, Sink};
use crate::analysis::{Base, PREDEFINED_ARGS};
use crate::instruction::{Body, Keyword};

/// BL001: a base image without a tag, or tagged `latest`.
pub(super) static UNPINNED_BASE: Rule = Rule::new(
    RuleInfo {
        id: "BL001",
        name: "unpinned-base-image",
        severity: Severity::Warning,
        summary: "base image not pinned: no tag, or `latest`",
        explanation: "An untagged or `latest` base image is whatever the registry serves on the day of the build: \
                      two builds of the same commit can differ, and a new major version can break the image.",
        fix: "pin a version tag, and for reproducible builds the digest too: `FROM image:1.2.3@sha256:<digest>` \
              (`docker buildx imagetools inspect image:1.2.3` prints it)",
    },
    unpinned_base,
);

fn unpinned_base(cx: &Context<'_>, out: &mut Sink<'_>) {
    for stage in &cx.analysis.stages {
        let Base::Image(image) = &stage.base else { continue };
        if image.digest.is_some() {
            continue;
        }
        match image.tag.as_deref() {
            None => out.at(stage.from, format!("base image `{}` has no tag: it means `latest`", image.full)),
            Some("latest") => out.at(stage.from, format!("base image `{}` is the moving `latest` tag", image.full)),
            _ => {}
        }
    }
}

/// BL022: two stages with the same name.
pub(super) static DUPLICATE_STAGE_NAME: Rule = Rule::new(
    RuleInfo {
        id: "BL022",
        name: "duplicate-stage-name",
        severity: Severity::Error,
        summary: "two stages share a name",
        explanation: "Stage names must be unique: Docker refuses the file, since `COPY --from` and `--target` could \
                      not tell the stages apart.",
        fix: "rename one of the stages (`FROM image AS build-tests`)",
    },
    duplicate_stage_name,
);

fn duplicate_stage_name(cx: &Context<'_>, out: &mut Sink<'_>) {
    let stages = &cx.analysis.stages;
    for (i, stage) in stages.iter().enumerate() {
        let Some(name) = &stage.name else { continue };
        if let Some(first) = stages[..i].iter().find(|s| s.name.as_ref() == Some(name)) {
            let line = cx.inst(first.from).span.start_line;
            out.at(stage.from, format!("stage name `{name}` is already used by the stage on line {line}"));
        }
    }
}

/// BL023: `COPY --from` (or `RUN --mount=from=`) naming no earlier stage.
pub(super) static UNKNOWN_COPY_FROM: Rule = Rule::new(
    RuleInfo {
        id: "BL023",
        name: "unknown-copy-from",
        severity: Severity::Error,
        summary: "`COPY --from` names no earlier stage",
        explanation: "`--from` takes an earlier stage's name or index, or an image. A name that is no stage (a typo, \
                      or a stage defined later) is pulled as an image called that, which fails or, worse, pulls \
                      someone else's image; an index must be lower than the current stage's.",
        fix: "name a stage defined above this one (or its 0-based index), or a full image reference with a tag",
    },
    unknown_copy_from,
);

fn unknown_copy_from(cx: &Context<'_>, out: &mut Sink<'_>) {
    let stages = &cx.analysis.stages;
    for (index, stage_of) in cx.analysis.stage_of.iter().enumerate() {
        let Some(current) = *stage_of else { continue };
        let inst = cx.inst(index);
        let from = match inst.keyword {
            Keyword::Copy => {
                cx.analysis.expanded[index].flags.iter().find(|f| f.name == "from").and_then(|f| f.value.clone())
            }
            Keyword::Run => inst.flags.iter().filter(|f| f.name == "mount").find_map(|f| {
                f.value.as_deref()?.split(',').find_map(|kv| kv.strip_prefix("from=").map(str::to_string))
            }),
            _ => None,
        };
        let Some(from) = from else { continue };
        if !cx.known(index) || from.contains('$') {
            continue;
        }
        if let Ok(n) = from.parse::<usize>() {
            if n >= current {
                out.at(index, format!("--from={n} is not an earlier stage (this is stage {current})"));
            }
            continue;
        }
        let lower = from.to_ascii_lowercase();
        match stages.iter().position(|s| s.name.as_deref() == Some(lower.as_str())) {
            Some(i) if i >= current => out.at(
                index,
                format!("--from={from} names this stage or a later one: only earlier stages can be copied from"),
            ),
            Some(_) => {}
            None if !from.contains(['/', ':', '@', '.']) => {
                out.at(index, format!("--from={from} names no stage: Docker would pull an image called `{from}`"))
            }
            None => {}
        }
    }
}

/// BL024: `FROM` using a variable that no `ARG` before the first `FROM` declares.
pub(super) static UNDEFINED_FROM_ARG: Rule = Rule::new(
    RuleInfo {
        id: "BL024",
        name: "undefined-from-arg",
        severity: Severity::Error,
        summary: "`FROM` uses a variable no global `ARG` declares",
        explanation: "`FROM` only sees the `ARG`s declared before the first `FROM` (and BuildKit's platform \
                      arguments). An `ARG` inside a stage, or a typo, expands to the empty string, so the base image \
                      is not the one meant, or the build fails.",
        fix: "declare it before the first `FROM`, with a default: `ARG BASE_IMAGE=debian:bookworm-slim`",
    },
    undefined_from_arg,
);

fn undefined_from_arg(cx: &Context<'_>, out: &mut Sink<'_>) {
    for stage in &cx.analysis.stages {
        let missing = &cx.analysis.expanded[stage.from].missing;
        let missing: Vec<&String> = missing.iter().filter(|m| !PREDEFINED_ARGS.contains(&m.as_str())).collect();
        if missing.is_empty() {
            continue;
        }
        let names = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
        let Body::From { image, .. } = &cx.inst(stage.from).body else { continue };
        out.at(stage.from, format!("`{image}` uses {names}, which no ARG before the first FROM declares"));
    }
}

//! Rules about what goes into the image from the build context: `ADD`/`COPY`, `WORKDIR`, layer order.

use super::{Context, Rule, RuleInfo, Severity, Sink};
use crate::instruction::{Body, Keyword};
use crate::shell::Command;

/// The sources and destination of the expanded COPY/ADD at `index`, when it copies from the build context.
fn context_copy<'a>(cx: &Context<'a>, index: usize) -> Option<(&'a [String], &'a str)> {
    let inst = cx.inst(index);
    if !matches!(inst.keyword, Keyword::Copy | Keyword::Add) || inst.flag("from").is_some() || !cx.known(index) {
        return None;
    }
    match cx.body(index) {
        Body::Copy { sources, dest } => Some((sources.as_slice(), dest.as_str())),
        _ => None,
    }
}

/// `.`, `./`, `*`: the whole build context.
fn is_whole_context(source: &str) -> bool {
    matches!(source, "." | "./" | "*" | "./*" | "./.")
}

/// BL002: `ADD` of local files, where `COPY` does the same without surprises.
pub(super) static ADD_INSTEAD_OF_COPY: Rule = Rule::new(
    RuleInfo {
        id: "BL002",
        name: "add-instead-of-copy",
        severity: Severity::Warning,
        summary: "`ADD` of local files where `COPY` serves",
        explanation: "`ADD` also fetches URLs and unpacks tar archives, so what it does depends on what the source \
                      turns out to be. For plain files and directories `COPY` is explicit and does exactly that.",
        fix: "use `COPY`; keep `ADD` for URLs (with `--checksum`), git repositories and tar archives to unpack",
    },
    add_instead_of_copy,
);

const ARCHIVES: &[&str] =
    &[".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".tar.lz4"];

fn add_instead_of_copy(cx: &Context<'_>, out: &mut Sink<'_>) {
    for index in 0..cx.analysis.file.instructions.len() {
        let inst = cx.inst(index);
        if inst.keyword != Keyword::Add || inst.flag("checksum").is_some() || inst.flag("keep-git-dir").is_some() {
            continue;
        }
        let Some((sources, _)) = context_copy(cx, index) else { continue };
        let remote = |s: &str| s.contains("://") || s.starts_with("git@") || s.ends_with(".git");
        let archive = |s: &str| ARCHIVES.iter().any(|ext| s.to_ascii_lowercase().ends_with(ext));
        if sources.iter().any(|s| remote(s) || archive(s)) {
            continue;
        }
        out.at(index, format!("ADD of local {} is a plain copy: use COPY", sources.join(" ")));
    }
}

/// BL011: the whole build context copied without a `.dockerignore`.
pub(super) static COPY_CONTEXT_WITHOUT_DOCKERIGNORE: Rule = Rule::new(
    RuleInfo {
        id: "BL011",
        name: "copy-context-without-dockerignore",
        severity: Severity::Warning,
        summary: "`COPY . .` without a `.dockerignore`",
        explanation: "Without a `.dockerignore`, copying the whole context puts `.git`, local `.env` files, build \
                      output and editor files into the image: bigger images, cache misses on every change, and \
                      leaked secrets.",
        fix: "add a `.dockerignore` next to the Dockerfile (or `<Dockerfile>.dockerignore`) listing `.git`, `.env`, \
              `target/`, `node_modules/` ..., or copy only the directories the build needs",
    },
    copy_context,
);

fn copy_context(cx: &Context<'_>, out: &mut Sink<'_>) {
    if cx.dockerignore != Some(false) {
        return;
    }
    for index in 0..cx.analysis.file.instructions.len() {
        let Some((sources, _)) = context_copy(cx, index) else { continue };
        if sources.iter().any(|s| is_whole_context(s)) {
            let keyword = cx.inst(index).keyword.as_str();
            out.at(index, format!("{keyword} copies the whole build context and there is no .dockerignore"));
        }
    }
}

/// Dependency manifests and lock files: copied alone before the sources, they let the install step stay cached.
const MANIFESTS: &[&str] = &[
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "requirements.txt",
    "pyproject.toml",
    "poetry.lock",
    "Pipfile",
    "Pipfile.lock",
    "uv.lock",
    "setup.py",
    "setup.cfg",
    "Cargo.toml",
    "Cargo.lock",
    "go.mod",
    "go.sum",
    "Gemfile",
    "Gemfile.lock",
    "composer.json",
    "composer.lock",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "settings.gradle",
    "mix.exs",
    "mix.lock",
];

fn is_manifest(source: &str) -> bool {
    let name = source.trim_end_matches('/').rsplit('/').next().unwrap_or(source);
    MANIFESTS.contains(&name)
        || (name.starts_with("requirements") && name.ends_with(".txt"))
        || name.starts_with("package") && name.ends_with(".json")
        || name.ends_with(".csproj")
}

/// A command that installs or fetches dependencies (and so should follow the manifests, not the sources).
fn installs_dependencies(c: &Command) -> Option<String> {
    let sub = c.subcommand().unwrap_or("");
    let hit = match c.program() {
        "npm" => matches!(sub, "ci" | "install" | "i"),
        "yarn" => sub.is_empty() || sub == "install",
        "pnpm" => matches!(sub, "install" | "i"),
        "pip" | "pip3" => {
            sub == "install" && c.args().iter().any(|a| a == "-r" || a == "." || a.starts_with("--requirement"))
        }
        "poetry" => sub == "install",
        "pipenv" => matches!(sub, "install" | "sync"),
        "uv" => sub == "sync",
        "bundle" => sub == "install",
        "composer" => sub == "install",
        "go" => {
            c.args().first().is_some_and(|a| a == "build") || c.args().starts_with(&["mod".into(), "download".into()])
        }
        "cargo" => matches!(sub, "build" | "fetch" | "install"),
        "mvn" | "mvnw" | "gradle" | "gradlew" => true,
        "dotnet" => matches!(sub, "restore" | "publish" | "build"),
        "mix" => sub == "deps.get",
        _ => false,
    };
    hit.then(|| format!("{} {sub}", c.program()).trim().to_string())
}

/// BL012: the sources copied before the dependency manifests and their install step.
pub(super) static CACHE_BUSTING_ORDER: Rule = Rule::new(
    RuleInfo {
        id: "BL012",
        name: "cache-busting-order",
        severity: Severity::Warning,
        summary: "sources copied before the dependency manifests and the install step",
        explanation: "A layer is rebuilt when anything it copied changed. Copying all sources before installing \
                      dependencies makes every source edit re-download and rebuild every dependency.",
        fix: "copy the manifests first, install, then copy the rest: `COPY package.json package-lock.json ./`, \
              `RUN npm ci`, `COPY . .`",
    },
    cache_busting_order,
);

fn cache_busting_order(cx: &Context<'_>, out: &mut Sink<'_>) {
    for stage in &cx.analysis.stages {
        let mut manifest_copied = false;
        let mut whole: Option<usize> = None;
        for index in stage.body.clone() {
            if let Some((sources, _)) = context_copy(cx, index) {
                if whole.is_none() && sources.iter().any(|s| is_whole_context(s)) {
                    whole = Some(index);
                    continue;
                }
                if whole.is_none() && sources.iter().any(|s| is_manifest(s)) {
                    manifest_copied = true;
                }
            }
            let (Some(copy), false) = (whole, manifest_copied) else { continue };
            let Some(script) = cx.script(index) else { continue };
            if let Some(step) = script.commands.iter().find_map(installs_dependencies) {
                let line = cx.inst(index).span.start_line;
                out.at(
                    copy,
                    format!("all sources are copied before `{step}` (line {line}): any source change re-runs it"),
                );
                break;
            }
        }
    }
}

/// BL021: a relative `WORKDIR`.
pub(super) static RELATIVE_WORKDIR: Rule = Rule::new(
    RuleInfo {
        id: "BL021",
        name: "relative-workdir",
        severity: Severity::Warning,
        summary: "`WORKDIR` with a relative path",
        explanation: "A relative `WORKDIR` is resolved against the previous one, which may come from the base image \
                      and change with it; the directory the instructions run in is then not visible in the file.",
        fix: "use an absolute path: `WORKDIR /app`",
    },
    relative_workdir,
);

fn relative_workdir(cx: &Context<'_>, out: &mut Sink<'_>) {
    for index in 0..cx.analysis.file.instructions.len() {
        if cx.inst(index).keyword != Keyword::Workdir || !cx.known(index) {
            continue;
        }
        let Body::Value(dir) = cx.body(index) else { continue };
        let windows = dir.len() >= 2 && dir.as_bytes()[1] == b':' && dir.as_bytes()[0].is_ascii_alphabetic();
        if !dir.starts_with('/') && !windows {
            out.at(index, format!("WORKDIR {dir} is relative to whatever the previous WORKDIR was"));
        }
    }
}

/// BL025: several sources copied to a destination that is not a directory.
pub(super) static MULTIPLE_SOURCES_DEST: Rule = Rule::new(
    RuleInfo {
        id: "BL025",
        name: "copy-sources-to-file",
        severity: Severity::Error,
        summary: "several sources copied to a destination without a trailing `/`",
        explanation: "With more than one source, the destination must be a directory and end with `/`; \
                      Docker refuses the instruction otherwise.",
        fix: "end the destination with `/`: `COPY a.txt b.txt /app/`",
    },
    multiple_sources_dest,
);

fn multiple_sources_dest(cx: &Context<'_>, out: &mut Sink<'_>) {
    for index in 0..cx.analysis.file.instructions.len() {
        let inst = cx.inst(index);
        if !matches!(inst.keyword, Keyword::Copy | Keyword::Add) || !cx.known(index) {
            continue;
        }
        let Body::Copy { sources, dest } = cx.body(index) else { continue };
        if sources.len() > 1 && !dest.ends_with('/') && !dest.ends_with('\\') {
            out.at(index, format!("{} sources copied to `{dest}`, which does not end with /", sources.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell;

    #[test]
    fn manifests_and_install_steps() {
        for m in [
            "package.json",
            "./app/package-lock.json",
            "requirements-dev.txt",
            "go.sum",
            "Api/Api.csproj",
            "package*.json",
        ] {
            assert!(is_manifest(m), "{m}");
        }
        for s in ["src/", "main.go", "README.md", "."] {
            assert!(!is_manifest(s), "{s}");
        }
        let step = |script: &str| shell::parse(script).commands.iter().find_map(installs_dependencies);
        assert_eq!(step("npm ci --omit=dev").as_deref(), Some("npm ci"));
        assert_eq!(step("CGO_ENABLED=0 go build -o /app").as_deref(), Some("go build"));
        assert_eq!(step("pip install --no-cache-dir -r requirements.txt").as_deref(), Some("pip install"));
        assert_eq!(step("pip install flask"), None);
        assert_eq!(step("npm run build"), None);
    }
}

//! Rules about splitting builds into stages.

use super::{Context, Rule, RuleInfo, Severity, Sink};
use crate::shell::Command;

/// Packages that are build tools: compilers, make systems, SDKs.
const BUILD_PACKAGES: &[&str] = &[
    "gcc",
    "g++",
    "gcc-c++",
    "clang",
    "make",
    "cmake",
    "build-essential",
    "build-base",
    "alpine-sdk",
    "autoconf",
    "automake",
    "libtool",
    "golang",
    "golang-go",
    "go",
    "rustc",
    "cargo",
    "maven",
    "gradle",
    "default-jdk",
    "nodejs-dev",
];

fn is_build_package(name: &str) -> bool {
    let name = name.split(['=', ':']).next().unwrap_or(name);
    BUILD_PACKAGES.contains(&name)
        || (name.starts_with("openjdk-") && name.ends_with("-jdk"))
        || name.ends_with("-devel") && name.starts_with("gcc")
}

/// What in `c` builds software, if anything.
fn build_step(c: &Command) -> Option<String> {
    let installers = [
        ("apt-get", "install"),
        ("apt", "install"),
        ("apk", "add"),
        ("yum", "install"),
        ("dnf", "install"),
        ("microdnf", "install"),
    ];
    for (program, sub) in installers {
        if c.is(&[program], &[sub]) {
            if let Some(p) = c.args().iter().find(|a| is_build_package(a)) {
                return Some(format!("installs {p}"));
            }
            return None;
        }
    }
    let sub = c.subcommand().unwrap_or("");
    let omits_dev =
        c.args().iter().any(|a| a.starts_with("--omit=dev") || a == "--production" || a.starts_with("--only=prod"));
    let hit = match c.program() {
        "make" | "cmake" | "gcc" | "g++" | "cc" | "clang" | "tsc" | "javac" => true,
        "cargo" => matches!(sub, "build" | "install"),
        "go" => matches!(c.args().first().map(String::as_str), Some("build" | "install")),
        "npm" => {
            (sub == "ci" || sub == "install") && !omits_dev || (sub == "run" && c.args().iter().any(|a| a == "build"))
        }
        "yarn" => sub == "build" || sub == "run" && c.args().iter().any(|a| a == "build"),
        "mvn" | "mvnw" => c.args().iter().any(|a| matches!(a.as_str(), "package" | "install" | "verify")),
        "gradle" | "gradlew" => c.args().iter().any(|a| a == "build" || a == "assemble" || a.ends_with("Jar")),
        "dotnet" => matches!(sub, "build" | "publish"),
        _ => false,
    };
    let program = c.program();
    hit.then(|| if sub.is_empty() { format!("runs `{program}`") } else { format!("runs `{program} {sub}`") })
}

/// BL016: build tools installed or run in the final stage.
pub(super) static BUILD_TOOLS_IN_FINAL_STAGE: Rule = Rule::new(
    RuleInfo {
        id: "BL016",
        name: "build-tools-in-final-stage",
        severity: Severity::Info,
        summary: "compilers or build tools installed or run in the final stage",
        explanation: "The image that runs carries everything its build needed: compilers, SDKs, dev dependencies and \
                      sources. That is hundreds of megabytes and many packages to patch that the service never uses.",
        fix: "build in a first stage (`FROM golang:1.22 AS build`) and copy only the result into a small final one \
              (`FROM gcr.io/distroless/static` + `COPY --from=build /out/app /app`)",
    },
    build_tools_in_final_stage,
);

fn build_tools_in_final_stage(cx: &Context<'_>, out: &mut Sink<'_>) {
    let final_stage = cx.analysis.final_stage().index;
    for (index, script) in cx.runs(final_stage) {
        if let Some(step) = script.commands.iter().find_map(build_step) {
            out.at(index, format!("the final stage {step}: build in an earlier stage and copy the result"));
            return;
        }
    }
}

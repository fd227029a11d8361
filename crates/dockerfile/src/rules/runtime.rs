//! Rules about how the final image runs: user, command, ports, health check.

use super::{Context, Rule, RuleInfo, Severity, Sink};
use crate::analysis::Base;
use crate::instruction::{Body, CommandForm, Keyword};

/// The last instruction with `keyword` in the final stage or, failing that, in the stages it is built on.
fn effective(cx: &Context<'_>, keyword: Keyword) -> Option<usize> {
    let final_stage = cx.analysis.final_stage().index;
    cx.analysis.chain(final_stage).into_iter().find_map(|s| cx.in_stage(s, keyword).last())
}

/// BL004: the final stage runs as root.
pub(super) static ROOT_USER: Rule = Rule::new(
    RuleInfo {
        id: "BL004",
        name: "runs-as-root",
        severity: Severity::Warning,
        summary: "the final stage runs as root",
        explanation: "A process running as root in the container is root on the host's kernel: a container escape \
                      or a mounted volume then gives full control. Most services need no privileges.",
        fix: "create a user and switch to it at the end: `RUN useradd --system --uid 10001 app` then `USER 10001`",
    },
    root_user,
);

fn root_user(cx: &Context<'_>, out: &mut Sink<'_>) {
    let final_stage = cx.analysis.final_stage();
    match effective(cx, Keyword::User) {
        Some(index) => {
            let Body::Value(user) = cx.body(index) else { return };
            let name = user.split(':').next().unwrap_or("");
            if cx.known(index) && (name == "root" || name == "0") {
                out.at(index, format!("USER {user} leaves the final stage running as root"));
            }
        }
        None => {
            let root = cx.analysis.chain(final_stage.index).into_iter().last().map(|s| &cx.analysis.stages[s].base);
            let non_root_image = match root {
                Some(Base::Image(image)) => {
                    ["nonroot", "non-root", "unprivileged", "rootless"].iter().any(|m| image.full.contains(m))
                }
                Some(Base::Unknown(_)) => true,
                _ => false,
            };
            if !non_root_image {
                out.at(final_stage.from, "the final stage has no USER: its processes run as root");
            }
        }
    }
}

/// Programs that serve requests, as a command's first word.
const SERVERS: &[&str] = &[
    "nginx",
    "httpd",
    "apache2",
    "apache2-foreground",
    "apachectl",
    "caddy",
    "haproxy",
    "traefik",
    "envoy",
    "gunicorn",
    "uvicorn",
    "hypercorn",
    "daphne",
    "waitress-serve",
    "puma",
    "unicorn",
    "php-fpm",
    "redis-server",
    "memcached",
    "postgres",
    "mysqld",
    "mongod",
    "rabbitmq-server",
    "http-server",
    "serve",
];

fn names_server(form: &CommandForm) -> bool {
    let words: Vec<String> = match form {
        CommandForm::Exec(argv) => argv.clone(),
        CommandForm::Shell(text) => text.split_whitespace().map(str::to_string).collect(),
    };
    words.iter().take(3).any(|w| {
        let name = w.rsplit('/').next().unwrap_or(w);
        SERVERS.iter().any(|s| {
            name == *s || (name.starts_with(s) && name[s.len()..].chars().all(|c| c.is_ascii_digit() || c == '.'))
        })
    }) || words.windows(2).any(|w| {
        matches!(
            (w[0].as_str(), w[1].as_str()),
            ("flask" | "rails", "run" | "server" | "s") | ("manage.py", "runserver")
        )
    })
}

/// BL013: a service image without a `HEALTHCHECK`.
pub(super) static MISSING_HEALTHCHECK: Rule = Rule::new(
    RuleInfo {
        id: "BL013",
        name: "missing-healthcheck",
        severity: Severity::Info,
        summary: "no `HEALTHCHECK` in a service image",
        explanation: "An image that serves (it exposes a port or runs a server) but declares no health check is \
                      `running` as long as its process lives, even when it no longer answers. Docker, and an ECS \
                      task definition's `healthCheck` made from it, can replace a hung container only with one.",
        fix: "`HEALTHCHECK --interval=30s --timeout=3s CMD wget -qO- http://localhost:8080/health || exit 1` (or \
              `HEALTHCHECK NONE` to say there deliberately is none; ECS users can set it in the task definition)",
    },
    missing_healthcheck,
);

fn missing_healthcheck(cx: &Context<'_>, out: &mut Sink<'_>) {
    if effective(cx, Keyword::Healthcheck).is_some() {
        return;
    }
    let exposes = effective(cx, Keyword::Expose).is_some();
    let serves = [Keyword::Cmd, Keyword::Entrypoint]
        .into_iter()
        .filter_map(|k| effective(cx, k))
        .any(|i| matches!(cx.body(i), Body::Command(form) if names_server(form)));
    if exposes || serves {
        let why = if exposes { "exposes a port" } else { "runs a server" };
        out.at(cx.analysis.final_stage().from, format!("the final stage {why} but has no HEALTHCHECK"));
    }
}

/// BL014: an `EXPOSE` Docker would refuse or misread.
pub(super) static INVALID_EXPOSE: Rule = Rule::new(
    RuleInfo {
        id: "BL014",
        name: "invalid-expose",
        severity: Severity::Error,
        summary: "invalid `EXPOSE`: port out of range, bad range or protocol, or a host mapping",
        explanation: "`EXPOSE` takes container ports 1-65535, optionally a range `8000-8010`, and `/tcp`, `/udp` or \
                      `/sctp`. Anything else fails the build or documents a port the container never listens on; \
                      publishing to a host port is decided at run time (`-p`, a task definition's portMappings).",
        fix: "`EXPOSE 8080` or `EXPOSE 8080/tcp 5353/udp`",
    },
    invalid_expose,
);

fn port(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 5 || !text.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|p| (1..=65535).contains(p))
}

/// Why an EXPOSE word is invalid, if it is.
fn expose_problem(word: &str) -> Option<String> {
    let (ports, protocol) = match word.split_once('/') {
        Some((p, proto)) => (p, Some(proto)),
        None => (word, None),
    };
    if ports.contains(':') {
        return Some(format!("`{word}` maps a host port: publishing is decided at run time"));
    }
    if let Some(proto) = protocol
        && !matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp")
    {
        return Some(format!("`{word}`: protocol `{proto}` is not tcp, udp or sctp"));
    }
    match ports.split_once('-') {
        Some((lo, hi)) => match (port(lo), port(hi)) {
            (Some(l), Some(h)) if l <= h => None,
            (Some(_), Some(_)) => Some(format!("`{word}`: the range's start is above its end")),
            _ => Some(format!("`{word}`: ports must be numbers from 1 to 65535")),
        },
        None => port(ports).is_none().then(|| format!("`{word}`: ports must be numbers from 1 to 65535")),
    }
}

fn invalid_expose(cx: &Context<'_>, out: &mut Sink<'_>) {
    for index in 0..cx.analysis.file.instructions.len() {
        if cx.inst(index).keyword != Keyword::Expose || !cx.known(index) {
            continue;
        }
        let Body::Words(words) = cx.body(index) else { continue };
        let problems: Vec<String> = words.iter().filter_map(|w| expose_problem(w)).collect();
        if !problems.is_empty() {
            out.at(index, format!("invalid EXPOSE: {}", problems.join("; ")));
        }
    }
}

/// BL015: shell-form `CMD`/`ENTRYPOINT` in the final image.
pub(super) static SHELL_FORM_COMMAND: Rule = Rule::new(
    RuleInfo {
        id: "BL015",
        name: "shell-form-command",
        severity: Severity::Warning,
        summary: "shell-form `CMD`/`ENTRYPOINT`: signals do not reach the process",
        explanation: "The shell form runs `/bin/sh -c \"...\"`: the shell is PID 1 and does not forward SIGTERM, so \
                      `docker stop` and ECS's StopTask wait out the stop timeout and then SIGKILL the process, which \
                      never shuts down cleanly. A shell-form `ENTRYPOINT` also ignores `CMD` and run-time arguments.",
        fix: "use the exec form: `CMD [\"gunicorn\", \"app:app\"]` (or start the shell command with `exec`)",
    },
    shell_form_command,
);

fn shell_form_command(cx: &Context<'_>, out: &mut Sink<'_>) {
    for keyword in [Keyword::Entrypoint, Keyword::Cmd] {
        let Some(index) = effective(cx, keyword) else { continue };
        if let Body::Command(CommandForm::Shell(text)) = cx.body(index)
            && !text.trim_start().starts_with("exec ")
        {
            out.at(
                index,
                format!("shell-form {} runs under /bin/sh, which does not pass on SIGTERM", keyword.as_str()),
            );
        }
    }
}

/// BL017: `MAINTAINER`.
pub(super) static MAINTAINER: Rule = Rule::new(
    RuleInfo {
        id: "BL017",
        name: "maintainer-deprecated",
        severity: Severity::Warning,
        summary: "`MAINTAINER` is deprecated",
        explanation: "`MAINTAINER` is deprecated since Docker 1.13 and sets a field tools no longer read; the \
                      OCI annotation label is what registries and scanners show.",
        fix: "`LABEL org.opencontainers.image.authors=\"name <email>\"`",
    },
    maintainer,
);

fn maintainer(cx: &Context<'_>, out: &mut Sink<'_>) {
    for index in 0..cx.analysis.file.instructions.len() {
        if cx.inst(index).keyword == Keyword::Maintainer {
            out.at(index, "MAINTAINER is deprecated: use LABEL org.opencontainers.image.authors");
        }
    }
}

/// BL026: a `CMD`, `ENTRYPOINT` or `HEALTHCHECK` overridden later in the same stage.
pub(super) static REPEATED_INSTRUCTION: Rule = Rule::new(
    RuleInfo {
        id: "BL026",
        name: "overridden-instruction",
        severity: Severity::Warning,
        summary: "several `CMD`, `ENTRYPOINT` or `HEALTHCHECK` in one stage",
        explanation: "Only the last `CMD`, `ENTRYPOINT` and `HEALTHCHECK` of a stage take effect; the earlier ones \
                      do nothing and mislead the reader.",
        fix: "keep only the last one (combine the commands if both were meant to run)",
    },
    repeated_instruction,
);

fn repeated_instruction(cx: &Context<'_>, out: &mut Sink<'_>) {
    for stage in &cx.analysis.stages {
        for keyword in [Keyword::Cmd, Keyword::Entrypoint, Keyword::Healthcheck] {
            let all: Vec<usize> = cx.in_stage(stage.index, keyword).collect();
            if let Some((&last, earlier)) = all.split_last() {
                let line = cx.inst(last).span.start_line;
                for &index in earlier {
                    out.at(index, format!("this {} is overridden by the one on line {line}", keyword.as_str()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_words() {
        for ok in ["80", "443/tcp", "53/UDP", "9000/sctp", "8000-8010", "1", "65535", "8080-8080/udp"] {
            assert_eq!(expose_problem(ok), None, "{ok}");
        }
        for bad in ["0", "65536", "70000", "8080:80", "53/icmp", "9000-8000", "http", "80-", "-80", "123456", ""] {
            assert!(expose_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn servers_by_their_command() {
        let exec = |argv: &[&str]| CommandForm::Exec(argv.iter().map(|s| s.to_string()).collect());
        assert!(names_server(&exec(&["nginx", "-g", "daemon off;"])));
        assert!(names_server(&exec(&["php-fpm8.3"])));
        assert!(names_server(&CommandForm::Shell("exec gunicorn app:app".into())));
        assert!(names_server(&exec(&["python", "manage.py", "runserver"])));
        assert!(!names_server(&exec(&["python", "worker.py"])));
        assert!(!names_server(&exec(&["cat", "nginx.conf"])));
    }
}

//! Rules about secrets written into the image's configuration through `ENV` and `ARG`.

use super::{Context, Rule, RuleInfo, Severity, Sink};
use crate::instruction::{Body, Keyword};

/// Name parts that mark a variable as holding a secret.
const SECRET_WORDS: &[&str] =
    &["PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "SECRETS", "TOKEN", "APIKEY", "CREDENTIALS"];
/// Two-part names that mark a secret (`API_KEY`, `ACCESS_KEY`, `PRIVATE_KEY` ...).
const SECRET_PAIRS: &[(&str, &str)] =
    &[("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY"), ("SECRET", "KEY"), ("AUTH", "KEY"), ("CLIENT", "SECRET")];
/// Last name parts that say the variable holds where a secret is or something about it, not the secret
/// (`PASSWORD_FILE`, `TOKEN_URL`, `TOKEN_TTL_SECONDS`).
const POINTER_WORDS: &[&str] = &[
    "FILE",
    "PATH",
    "DIR",
    "URL",
    "URI",
    "ENDPOINT",
    "HOST",
    "PORT",
    "NAME",
    "LENGTH",
    "LEN",
    "TYPE",
    "TTL",
    "SECONDS",
    "MINUTES",
    "HOURS",
    "DAYS",
    "TIMEOUT",
    "EXPIRY",
    "LIFETIME",
    "HEADER",
    "ISSUER",
    "AUDIENCE",
    "ALGORITHM",
    "VERSION",
    "ENABLED",
    "REQUIRED",
    "ID",
];

/// Whether a variable name says it holds a secret.
pub(crate) fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let parts: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()).collect();
    // An access key id is half of a credential pair; other `..._ID`s name a secret kept elsewhere.
    if parts.last().is_some_and(|p| POINTER_WORDS.contains(p)) && !upper.ends_with("ACCESS_KEY_ID") {
        return false;
    }
    parts.iter().any(|p| SECRET_WORDS.contains(p)) || parts.windows(2).any(|w| SECRET_PAIRS.contains(&(w[0], w[1])))
}

/// Whether a value looks like a credential from a well-known issuer.
pub(crate) fn key_like(value: &str) -> Option<&'static str> {
    let v = value.trim();
    let tail_ok = |prefix: &str, len: usize| {
        v.strip_prefix(prefix)
            .is_some_and(|t| t.len() >= len && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    };
    if (v.starts_with("AKIA") || v.starts_with("ASIA"))
        && v.len() == 20
        && v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Some("an AWS access key id");
    }
    if ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"].iter().any(|p| tail_ok(p, 30)) || tail_ok("github_pat_", 30) {
        return Some("a GitHub token");
    }
    if tail_ok("glpat-", 20) {
        return Some("a GitLab token");
    }
    if ["xoxb-", "xoxp-", "xoxa-", "xoxr-"].iter().any(|p| tail_ok(p, 10)) {
        return Some("a Slack token");
    }
    if ["sk_live_", "rk_live_"].iter().any(|p| tail_ok(p, 16)) {
        return Some("a Stripe live key");
    }
    if tail_ok("AIza", 35) {
        return Some("a Google API key");
    }
    if v.contains("-----BEGIN") && v.contains("PRIVATE KEY") {
        return Some("a private key");
    }
    None
}

/// An `ENV` pair or `ARG` declaration: (instruction index, keyword, name, raw value, expanded value).
type Variable<'a> = (usize, Keyword, &'a str, Option<&'a str>, Option<&'a str>);

/// Each `ENV` pair and `ARG` declaration of the file.
fn variables<'a>(cx: &'a Context<'_>) -> Vec<Variable<'a>> {
    let mut out = Vec::new();
    for (index, inst) in cx.analysis.file.instructions.iter().enumerate() {
        match (&inst.body, cx.body(index)) {
            (Body::Pairs(raw), Body::Pairs(expanded)) if inst.keyword == Keyword::Env => {
                for (r, e) in raw.iter().zip(expanded) {
                    out.push((index, Keyword::Env, r.key.as_str(), Some(r.value.as_str()), Some(e.value.as_str())));
                }
            }
            (Body::Args(raw), Body::Args(expanded)) => {
                for (r, e) in raw.iter().zip(expanded) {
                    out.push((index, Keyword::Arg, r.name.as_str(), r.default.as_deref(), e.default.as_deref()));
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether a raw value is written in the file (not only a reference to another variable).
fn literal(raw: &str) -> bool {
    let unquoted = raw.trim_matches(|c| c == '"' || c == '\'');
    !unquoted.is_empty() && (!unquoted.starts_with('$') || unquoted.contains(' '))
}

/// BL009: a secret's value written in the Dockerfile.
pub(super) static SECRET_VALUE: Rule = Rule::new(
    RuleInfo {
        id: "BL009",
        name: "secret-in-dockerfile",
        severity: Severity::Error,
        summary: "a secret's value in `ENV` or `ARG`",
        explanation: "`ENV` values are stored in the image's configuration and `ARG` defaults in its history: \
                      anyone who can pull the image (or read the repository) reads the secret, and it cannot be \
                      rotated without rebuilding.",
        fix: "pass secrets at build time with `RUN --mount=type=secret,id=name` (`docker build --secret`), and at \
              run time through the task definition's `secrets` (Secrets Manager or Parameter Store)",
    },
    secret_value,
);

fn secret_value(cx: &Context<'_>, out: &mut Sink<'_>) {
    for (index, keyword, name, raw, value) in variables(cx) {
        let (Some(raw), Some(value)) = (raw, value) else { continue };
        if let Some(kind) = key_like(value) {
            out.at(index, format!("{} {name} holds what looks like {kind}", keyword.as_str()));
        } else if secret_name(name) && literal(raw) {
            out.at(index, format!("{} {name} writes a secret's value into the image", keyword.as_str()));
        }
    }
}

/// BL010: a secret passed through `ARG` or `ENV` without a value in the file.
pub(super) static SECRET_VARIABLE: Rule = Rule::new(
    RuleInfo {
        id: "BL010",
        name: "secret-in-build-arg",
        severity: Severity::Warning,
        summary: "a secret passed as a build argument or environment variable",
        explanation: "`--build-arg` values are recorded in the image's history (`docker history`), and an `ENV` \
                      copied from one stays in the image's configuration, even when the file holds no value.",
        fix: "use `RUN --mount=type=secret,id=name` for build-time secrets and the task definition's `secrets` at \
              run time",
    },
    secret_variable,
);

fn secret_variable(cx: &Context<'_>, out: &mut Sink<'_>) {
    for (index, keyword, name, raw, value) in variables(cx) {
        if !secret_name(name) || value.is_some_and(|v| key_like(v).is_some()) {
            continue;
        }
        let written = raw.is_some_and(literal);
        match keyword {
            Keyword::Arg if !written => out.at(index, format!("ARG {name} passes a secret as a build argument")),
            Keyword::Env if !written && raw.is_some_and(|r| r.contains('$')) => {
                out.at(index, format!("ENV {name} copies a secret into the image's environment"))
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for name in [
            "DB_PASSWORD",
            "api_key",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "client.secret",
            "NPM_TOKEN",
        ] {
            assert!(secret_name(name), "{name}");
        }
        for name in [
            "PASSWORD_FILE",
            "TOKEN_URL",
            "DB_SECRET_ID",
            "TOKEN_TTL_SECONDS",
            "PWD",
            "KEYBOARD",
            "TOKENIZERS_PARALLELISM",
            "GPG_KEY",
            "PATH",
        ] {
            assert!(!secret_name(name), "{name}");
        }
    }

    #[test]
    fn key_like_values() {
        assert!(key_like("AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(key_like("ghp_abcdefghijklmnopqrstuvwxyz0123456789").is_some());
        assert!(key_like("-----BEGIN RSA PRIVATE KEY-----").is_some());
        assert!(key_like("AKIA-not-a-key").is_none());
        assert!(key_like("hello").is_none());
    }
}

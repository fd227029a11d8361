//! Instructions: the keyword, flags, and the arguments in the shape each instruction takes. Words are kept raw
//! (quotes and `$VAR` as written); [`crate::analysis`] expands them where Docker does.

use crate::error::ParseError;
use crate::lines::{Heredoc, LogicalLine};
use crate::words;

/// A Dockerfile instruction keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// `FROM`
    From,
    /// `RUN`
    Run,
    /// `CMD`
    Cmd,
    /// `LABEL`
    Label,
    /// `MAINTAINER` (deprecated)
    Maintainer,
    /// `EXPOSE`
    Expose,
    /// `ENV`
    Env,
    /// `ADD`
    Add,
    /// `COPY`
    Copy,
    /// `ENTRYPOINT`
    Entrypoint,
    /// `VOLUME`
    Volume,
    /// `USER`
    User,
    /// `WORKDIR`
    Workdir,
    /// `ARG`
    Arg,
    /// `ONBUILD`
    Onbuild,
    /// `STOPSIGNAL`
    Stopsignal,
    /// `HEALTHCHECK`
    Healthcheck,
    /// `SHELL`
    Shell,
}

const KEYWORDS: [(Keyword, &str); 18] = [
    (Keyword::From, "FROM"),
    (Keyword::Run, "RUN"),
    (Keyword::Cmd, "CMD"),
    (Keyword::Label, "LABEL"),
    (Keyword::Maintainer, "MAINTAINER"),
    (Keyword::Expose, "EXPOSE"),
    (Keyword::Env, "ENV"),
    (Keyword::Add, "ADD"),
    (Keyword::Copy, "COPY"),
    (Keyword::Entrypoint, "ENTRYPOINT"),
    (Keyword::Volume, "VOLUME"),
    (Keyword::User, "USER"),
    (Keyword::Workdir, "WORKDIR"),
    (Keyword::Arg, "ARG"),
    (Keyword::Onbuild, "ONBUILD"),
    (Keyword::Stopsignal, "STOPSIGNAL"),
    (Keyword::Healthcheck, "HEALTHCHECK"),
    (Keyword::Shell, "SHELL"),
];

impl Keyword {
    /// The keyword as Docker spells it.
    pub fn as_str(self) -> &'static str {
        KEYWORDS.iter().find(|(k, _)| *k == self).map_or("?", |(_, s)| s)
    }

    /// The keyword for a word, case-insensitively.
    pub fn parse(word: &str) -> Option<Keyword> {
        KEYWORDS.iter().find(|(_, s)| s.eq_ignore_ascii_case(word)).map(|(k, _)| *k)
    }

    /// The flags (`--name`) this instruction accepts.
    fn flags(self) -> &'static [&'static str] {
        match self {
            Keyword::From => &["platform"],
            Keyword::Run => &["mount", "network", "security"],
            Keyword::Copy => &["from", "chown", "chmod", "link", "parents", "exclude"],
            Keyword::Add => &["chown", "chmod", "checksum", "keep-git-dir", "link", "exclude", "unpack"],
            Keyword::Healthcheck => &["interval", "timeout", "start-period", "start-interval", "retries"],
            _ => &[],
        }
    }
}

/// Where an instruction is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The 1-based first line.
    pub start_line: usize,
    /// The 1-based last line (continuations and heredocs included).
    pub end_line: usize,
    /// The 1-based column of the keyword.
    pub column: usize,
}

/// A `--name=value` (or `--name`) flag, its value raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// The name without `--`.
    pub name: String,
    /// The value after `=`, as written; None for a bare `--name`.
    pub value: Option<String>,
}

/// The exec (JSON) or shell form of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    /// `["executable", "arg"]`: run directly, no shell, no expansion.
    Exec(Vec<String>),
    /// A command line run by the stage's shell (`/bin/sh -c` by default).
    Shell(String),
}

/// An `ENV` or `LABEL` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key (raw).
    pub key: String,
    /// The value (raw).
    pub value: String,
}

/// An `ARG` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default value (raw), if any.
    pub default: Option<String>,
}

/// The arguments of an instruction, in its own shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `FROM image [AS name]`.
    From {
        /// The image reference (raw).
        image: String,
        /// The stage name, lowercased.
        alias: Option<String>,
    },
    /// `RUN`, `CMD`, `ENTRYPOINT`.
    Command(CommandForm),
    /// `SHELL ["executable", "parameters"]`.
    Shell(Vec<String>),
    /// `ENV`, `LABEL`.
    Pairs(Vec<KeyValue>),
    /// `ARG`.
    Args(Vec<ArgDecl>),
    /// `COPY`, `ADD`: sources then destination (raw words, or JSON strings).
    Copy {
        /// The sources (heredoc sources appear as their `<<NAME` word).
        sources: Vec<String>,
        /// The destination.
        dest: String,
    },
    /// `EXPOSE`, `VOLUME`: a list of words.
    Words(Vec<String>),
    /// `USER`, `WORKDIR`, `STOPSIGNAL`, `MAINTAINER`: one value.
    Value(String),
    /// `HEALTHCHECK CMD ...` (Some) or `HEALTHCHECK NONE` (None).
    Healthcheck(Option<CommandForm>),
    /// `ONBUILD <instruction>`.
    Onbuild(Box<Instruction>),
}

/// One instruction of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Which instruction.
    pub keyword: Keyword,
    /// Where it is.
    pub span: Span,
    /// The instruction's text, continuations joined (heredoc bodies not included).
    pub text: String,
    /// Its flags, in order.
    pub flags: Vec<Flag>,
    /// Its heredocs, in order.
    pub heredocs: Vec<Heredoc>,
    /// Its arguments.
    pub body: Body,
}

impl Instruction {
    /// The raw value of flag `name`, if given (a bare flag gives an empty string).
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|f| f.name == name).map(|f| f.value.as_deref().unwrap_or(""))
    }
}

/// Parses one logical line.
pub fn parse(line: &LogicalLine, escape: char) -> Result<Instruction, ParseError> {
    let span = Span { start_line: line.start_line, end_line: line.end_line, column: line.column };
    parse_text(&line.text, span, line.heredocs.clone(), escape, false)
}

fn parse_text(
    text: &str,
    span: Span,
    heredocs: Vec<Heredoc>,
    escape: char,
    onbuild: bool,
) -> Result<Instruction, ParseError> {
    let err = |message: String| ParseError::new(span.start_line, message);
    let word_err = |e: words::WordError| ParseError::new(span.start_line, e.to_string());
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let keyword = Keyword::parse(word).ok_or_else(|| err(format!("unknown instruction {word:?}")))?;
    if onbuild && matches!(keyword, Keyword::Onbuild | Keyword::From | Keyword::Maintainer) {
        return Err(err(format!("{} is not allowed under ONBUILD", keyword.as_str())));
    }
    let (flags, rest) = take_flags(rest, keyword, escape).map_err(err)?;
    let rest = rest.trim();
    let needs = |what: &str| err(format!("{} needs {what}", keyword.as_str()));
    let body = match keyword {
        Keyword::From => {
            let w = words::split(rest, escape).map_err(word_err)?;
            match w.as_slice() {
                [image] => Body::From { image: image.clone(), alias: None },
                [image, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
                    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                    if !valid {
                        return Err(err(format!(
                            "invalid stage name {name:?}: it must start with a letter and hold only letters, \
                             digits, '-', '_' and '.'"
                        )));
                    }
                    Body::From { image: image.clone(), alias: Some(name.to_ascii_lowercase()) }
                }
                [] => return Err(needs("an image")),
                _ => return Err(err("FROM takes an image and an optional `AS name`".to_string())),
            }
        }
        Keyword::Run | Keyword::Cmd | Keyword::Entrypoint => {
            if rest.is_empty() && heredocs.is_empty() {
                return Err(needs("a command"));
            }
            Body::Command(command_form(rest))
        }
        Keyword::Shell => match json_array(rest) {
            Some(argv) if !argv.is_empty() => Body::Shell(argv),
            _ => return Err(err("SHELL needs a JSON array, e.g. [\"/bin/bash\", \"-c\"]".to_string())),
        },
        Keyword::Env | Keyword::Label => Body::Pairs(pairs(rest, keyword, escape).map_err(err)?),
        Keyword::Arg => {
            let w = words::split(rest, escape).map_err(word_err)?;
            if w.is_empty() {
                return Err(needs("a name"));
            }
            Body::Args(
                w.into_iter()
                    .map(|w| match w.split_once('=') {
                        Some((n, v)) => ArgDecl { name: n.to_string(), default: Some(v.to_string()) },
                        None => ArgDecl { name: w, default: None },
                    })
                    .collect(),
            )
        }
        Keyword::Copy | Keyword::Add => {
            let mut w = match json_array(rest) {
                Some(list) => list,
                None => words::split(rest, escape).map_err(word_err)?,
            };
            if w.len() < 2 {
                return Err(needs("a source and a destination"));
            }
            let dest = w.pop().unwrap_or_default();
            Body::Copy { sources: w, dest }
        }
        Keyword::Expose | Keyword::Volume => {
            let w = match (keyword, json_array(rest)) {
                (Keyword::Volume, Some(list)) => list,
                _ => words::split(rest, escape).map_err(word_err)?,
            };
            if w.is_empty() {
                return Err(needs("at least one argument"));
            }
            Body::Words(w)
        }
        Keyword::User | Keyword::Workdir | Keyword::Stopsignal => {
            let w = words::split(rest, escape).map_err(word_err)?;
            match w.as_slice() {
                [one] => Body::Value(one.clone()),
                _ => return Err(needs("exactly one argument")),
            }
        }
        Keyword::Maintainer => {
            if rest.is_empty() {
                return Err(needs("a name"));
            }
            Body::Value(rest.to_string())
        }
        Keyword::Healthcheck => {
            let (first, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if first.eq_ignore_ascii_case("none") && after.trim().is_empty() {
                if !flags.is_empty() {
                    return Err(err("HEALTHCHECK NONE takes no flags".to_string()));
                }
                Body::Healthcheck(None)
            } else if first.eq_ignore_ascii_case("cmd") && !after.trim().is_empty() {
                Body::Healthcheck(Some(command_form(after.trim())))
            } else {
                return Err(err("HEALTHCHECK takes `NONE` or `CMD command`".to_string()));
            }
        }
        Keyword::Onbuild => {
            if rest.is_empty() {
                return Err(needs("an instruction"));
            }
            Body::Onbuild(Box::new(parse_text(rest, span, heredocs.clone(), escape, true)?))
        }
    };
    Ok(Instruction { keyword, span, text: text.to_string(), flags, heredocs, body })
}

/// Leading `--name[=value]` flags, checked against what the instruction accepts.
fn take_flags(mut rest: &str, keyword: Keyword, escape: char) -> Result<(Vec<Flag>, &str), String> {
    let mut flags = Vec::new();
    loop {
        let trimmed = rest.trim_start();
        if !trimmed.starts_with("--") {
            return Ok((flags, trimmed));
        }
        let Some((word, after)) = words::take_word(trimmed, escape).map_err(|e| e.to_string())? else {
            return Ok((flags, trimmed));
        };
        let body = &word[2..];
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if !keyword.flags().contains(&name.as_str()) {
            return Err(format!("unknown flag --{name} for {}", keyword.as_str()));
        }
        flags.push(Flag { name, value });
        rest = after;
    }
}

/// The exec form when `text` is a JSON array of strings, else the shell form (as Docker decides).
fn command_form(text: &str) -> CommandForm {
    match json_array(text) {
        Some(argv) => CommandForm::Exec(argv),
        None => CommandForm::Shell(text.to_string()),
    }
}

fn json_array(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// `key=value ...` pairs, or the legacy `ENV key value with spaces`.
fn pairs(rest: &str, keyword: Keyword, escape: char) -> Result<Vec<KeyValue>, String> {
    let w = words::split(rest, escape).map_err(|e| e.to_string())?;
    let Some(first) = w.first() else {
        return Err(format!("{} needs key=value pairs", keyword.as_str()));
    };
    if !first.contains('=') {
        let value = rest[first.len()..].trim();
        if value.is_empty() {
            return Err(format!("{} {first} needs a value (key=value)", keyword.as_str()));
        }
        return Ok(vec![KeyValue { key: first.clone(), value: value.to_string() }]);
    }
    w.into_iter()
        .map(|word| match word.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(KeyValue { key: k.to_string(), value: v.to_string() }),
            _ => Err(format!("{} expects key=value pairs, got {word:?}", keyword.as_str())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Instruction, ParseError> {
        let line = LogicalLine { start_line: 7, end_line: 7, column: 1, text: text.to_string(), heredocs: Vec::new() };
        parse(&line, '\\')
    }

    #[test]
    fn from_with_platform_and_alias() {
        let i = one("from --platform=$BUILDPLATFORM golang:1.22 AS Build").unwrap();
        assert_eq!(i.keyword, Keyword::From);
        assert_eq!(i.flag("platform"), Some("$BUILDPLATFORM"));
        assert_eq!(i.body, Body::From { image: "golang:1.22".into(), alias: Some("build".into()) });
        assert!(one("FROM a AS 1x").is_err());
        assert!(one("FROM a b").is_err());
    }

    #[test]
    fn exec_and_shell_forms() {
        assert_eq!(
            one(r#"CMD ["a", "b c"]"#).unwrap().body,
            Body::Command(CommandForm::Exec(vec!["a".into(), "b c".into()]))
        );
        assert_eq!(one("CMD [not json").unwrap().body, Body::Command(CommandForm::Shell("[not json".into())));
        assert_eq!(
            one("RUN --mount=type=cache,target=/root/.cache echo hi").unwrap().body,
            Body::Command(CommandForm::Shell("echo hi".into()))
        );
        assert!(one("SHELL /bin/bash -c").is_err());
        assert!(one("RUN").is_err());
    }

    #[test]
    fn env_pairs_and_legacy_form() {
        let i = one(r#"ENV A=1 B="two words" C"#);
        assert!(i.is_err(), "a word without = after pairs");
        let i = one(r#"ENV A=1 B="two words""#).unwrap();
        assert_eq!(
            i.body,
            Body::Pairs(vec![
                KeyValue { key: "A".into(), value: "1".into() },
                KeyValue { key: "B".into(), value: "\"two words\"".into() }
            ])
        );
        let i = one("ENV PATH /usr/local/bin:$PATH").unwrap();
        assert_eq!(i.body, Body::Pairs(vec![KeyValue { key: "PATH".into(), value: "/usr/local/bin:$PATH".into() }]));
    }

    #[test]
    fn copy_flags_and_json() {
        let i = one("COPY --from=build --chown=app:app /out/bin /usr/local/bin/").unwrap();
        assert_eq!(i.flag("from"), Some("build"));
        assert_eq!(i.body, Body::Copy { sources: vec!["/out/bin".into()], dest: "/usr/local/bin/".into() });
        let i = one(r#"ADD ["a b", "c", "/d/"]"#).unwrap();
        assert_eq!(i.body, Body::Copy { sources: vec!["a b".into(), "c".into()], dest: "/d/".into() });
        let e = one("COPY --form=x a b").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (7, "unknown flag --form for COPY"));
        assert!(one("COPY onlyone").is_err());
    }

    #[test]
    fn healthcheck_onbuild_and_errors() {
        assert_eq!(one("HEALTHCHECK NONE").unwrap().body, Body::Healthcheck(None));
        let i = one("HEALTHCHECK --interval=5s CMD curl -f http://localhost/").unwrap();
        assert_eq!(i.body, Body::Healthcheck(Some(CommandForm::Shell("curl -f http://localhost/".into()))));
        assert!(one("HEALTHCHECK curl").is_err());
        let i = one("ONBUILD COPY . /app").unwrap();
        assert!(matches!(&i.body, Body::Onbuild(inner) if inner.keyword == Keyword::Copy));
        assert!(one("ONBUILD FROM x").is_err());
        assert_eq!(one("FORM x").unwrap_err().message, "unknown instruction \"FORM\"");
        assert!(one("USER a b").is_err());
        assert!(one("ARG").is_err());
    }
}

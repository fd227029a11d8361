//! Stages and variables: which instructions belong to which stage, what each stage is built from, and the
//! instructions' arguments with `ARG`/`ENV` expanded where Docker expands them (`FROM` with the global `ARG`s
//! declared before the first `FROM`; `ADD`, `COPY`, `ENV`, `EXPOSE`, `LABEL`, `STOPSIGNAL`, `USER`, `VOLUME`,
//! `WORKDIR` and `ARG` defaults with the stage's variables; `RUN`, `CMD` and `ENTRYPOINT` are left to the shell).

use std::collections::HashMap;
use std::ops::Range;

use crate::error::ParseError;
use crate::instruction::{ArgDecl, Body, Flag, Instruction, KeyValue, Keyword};
use crate::parse::Dockerfile;
use crate::words::{self, Var};

/// Build arguments BuildKit predefines (their values depend on the build).
pub const PREDEFINED_ARGS: &[&str] = &[
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What a stage is built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`.
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference.
    Image(ImageRef),
    /// A reference whose value comes at build time (an `ARG` without default).
    Unknown(String),
}

/// An image reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The reference as expanded.
    pub full: String,
    /// Registry and repository, without tag or digest.
    pub name: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest (`sha256:...`), if any.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Splits `reference` into name, tag and digest.
    pub fn parse(reference: &str) -> ImageRef {
        let (rest, digest) = match reference.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (reference, None),
        };
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_string())),
            None => (rest, None),
        };
        ImageRef { full: reference.to_string(), name: name.to_string(), tag, digest }
    }
}

/// A build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its 0-based index.
    pub index: usize,
    /// Its `AS` name, lowercased.
    pub name: Option<String>,
    /// What it is built on.
    pub base: Base,
    /// The index of its `FROM` instruction.
    pub from: usize,
    /// The indices of its instructions after `FROM`.
    pub body: Range<usize>,
}

/// An instruction's arguments after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The arguments, quotes removed and variables substituted where Docker does (else as parsed).
    pub body: Body,
    /// The flags, values expanded.
    pub flags: Vec<Flag>,
    /// Variables used without being declared.
    pub missing: Vec<String>,
    /// Whether a variable with a build-time value was used (the expanded text is then not the real one).
    pub unknown: bool,
}

/// A Dockerfile read as stages, with its arguments expanded.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The file.
    pub file: Dockerfile,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// One expansion per instruction, in the same order.
    pub expanded: Vec<Expansion>,
    /// The stage each instruction belongs to (None before the first `FROM`).
    pub stage_of: Vec<Option<usize>>,
    /// Each stage's environment at its end (`ENV` values, inherited through stage bases).
    pub env: Vec<HashMap<String, Var>>,
}

impl Analysis {
    /// The last stage: the image `docker build` produces without `--target`.
    pub fn final_stage(&self) -> &Stage {
        &self.stages[self.stages.len() - 1]
    }

    /// The stage and its ancestor stages, from the stage itself back to the one built on an image.
    pub fn chain(&self, stage: usize) -> Vec<usize> {
        let mut out = vec![stage];
        let mut current = stage;
        while let Base::Stage(parent) = self.stages[current].base {
            if out.contains(&parent) {
                break;
            }
            out.push(parent);
            current = parent;
        }
        out
    }

    /// The instruction at `index`.
    pub fn instruction(&self, index: usize) -> &Instruction {
        &self.file.instructions[index]
    }
}

/// Reads a parsed file as stages and expands its arguments.
pub fn analyse(file: Dockerfile) -> Result<Analysis, ParseError> {
    let escape = file.directives.escape;
    let mut global: HashMap<String, Var> = HashMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut envs: Vec<HashMap<String, Var>> = Vec::new();
    let mut env: HashMap<String, Var> = HashMap::new();
    let mut args: HashMap<String, Var> = HashMap::new();
    let mut expanded = Vec::with_capacity(file.instructions.len());
    let mut stage_of = Vec::with_capacity(file.instructions.len());
    for (index, inst) in file.instructions.iter().enumerate() {
        let line = inst.span.start_line;
        let in_stage = !stages.is_empty();
        if inst.keyword == Keyword::From {
            if let Some(last) = stages.last_mut() {
                last.body.end = index;
                envs.push(env.clone());
            }
            let lookup = |name: &str| {
                global.get(name).cloned().or_else(|| PREDEFINED_ARGS.contains(&name).then_some(Var::Unknown))
            };
            let exp = expand_instruction(inst, escape, &lookup)?;
            let Body::From { image, alias } = &exp.body else {
                return Err(ParseError::new(line, "FROM without an image"));
            };
            // The image alone decides the base (a build-time `--platform=$BUILDPLATFORM` does not).
            let Body::From { image: raw_image, .. } = &inst.body else {
                return Err(ParseError::new(line, "FROM without an image"));
            };
            let alone = words::expand(raw_image, escape, &lookup).map_err(|e| ParseError::new(line, e.to_string()))?;
            let base = if alone.unknown || !alone.missing.is_empty() {
                Base::Unknown(image.clone())
            } else if image.eq_ignore_ascii_case("scratch") {
                Base::Scratch
            } else if let Some(i) =
                stages.iter().position(|s| s.name.as_deref() == Some(image.to_ascii_lowercase().as_str()))
            {
                Base::Stage(i)
            } else {
                Base::Image(ImageRef::parse(image))
            };
            env = match &base {
                Base::Stage(i) => envs[*i].clone(),
                _ => HashMap::new(),
            };
            args = HashMap::new();
            stages.push(Stage {
                index: stages.len(),
                name: alias.clone(),
                base,
                from: index,
                body: index + 1..index + 1,
            });
            stage_of.push(Some(stages.len() - 1));
            expanded.push(exp);
            continue;
        }
        if !in_stage {
            if inst.keyword != Keyword::Arg {
                return Err(ParseError::new(
                    line,
                    format!("{} before the first FROM (only ARG may come before it)", inst.keyword.as_str()),
                ));
            }
            let exp = expand_instruction(inst, escape, &|name: &str| global.get(name).cloned())?;
            if let Body::Args(decls) = &exp.body {
                declare(&mut global, decls, &HashMap::new(), exp.unknown);
            }
            stage_of.push(None);
            expanded.push(exp);
            continue;
        }
        let exp = expand_instruction(inst, escape, &|name: &str| env.get(name).or_else(|| args.get(name)).cloned())?;
        match (&inst.keyword, &exp.body) {
            (Keyword::Arg, Body::Args(decls)) => declare(&mut args, decls, &global, exp.unknown),
            (Keyword::Env, Body::Pairs(pairs)) => {
                for KeyValue { key, value } in pairs {
                    let var = if exp.unknown { Var::Unknown } else { Var::Value(value.clone()) };
                    env.insert(key.clone(), var);
                }
            }
            _ => {}
        }
        stage_of.push(Some(stages.len() - 1));
        expanded.push(exp);
    }
    let Some(last) = stages.last_mut() else {
        return Err(ParseError::new(file.instructions.last().map_or(1, |i| i.span.start_line), "no FROM instruction"));
    };
    last.body.end = file.instructions.len();
    envs.push(env);
    Ok(Analysis { file, stages, expanded, stage_of, env: envs })
}

/// ARG declarations: a default, else the global value of the same name, else a build-time value.
fn declare(into: &mut HashMap<String, Var>, decls: &[ArgDecl], global: &HashMap<String, Var>, unknown: bool) {
    for decl in decls {
        let var = match &decl.default {
            Some(_) if unknown => Var::Unknown,
            Some(value) => Var::Value(value.clone()),
            None => global.get(&decl.name).cloned().unwrap_or(Var::Unknown),
        };
        into.insert(decl.name.clone(), var);
    }
}

/// Expands the words Docker expands in `inst`.
fn expand_instruction(
    inst: &Instruction,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<Var>,
) -> Result<Expansion, ParseError> {
    let mut exp = Expansion { body: inst.body.clone(), flags: inst.flags.clone(), missing: Vec::new(), unknown: false };
    let line = inst.span.start_line;
    let mut one = |raw: &str| -> Result<String, ParseError> {
        let e = words::expand(raw, escape, lookup).map_err(|e| ParseError::new(line, e.to_string()))?;
        for m in e.missing {
            if !exp.missing.contains(&m) {
                exp.missing.push(m);
            }
        }
        exp.unknown |= e.unknown;
        Ok(e.value)
    };
    let expands_flags = matches!(inst.keyword, Keyword::From | Keyword::Copy | Keyword::Add);
    let mut flags = inst.flags.clone();
    if expands_flags {
        for flag in &mut flags {
            if let Some(v) = &flag.value {
                flag.value = Some(one(v)?);
            }
        }
    }
    let body = match &inst.body {
        Body::From { image, alias } => Body::From { image: one(image)?, alias: alias.clone() },
        Body::Pairs(pairs) => Body::Pairs(
            pairs
                .iter()
                .map(|kv| Ok(KeyValue { key: kv.key.clone(), value: one(&kv.value)? }))
                .collect::<Result<_, ParseError>>()?,
        ),
        Body::Args(decls) => Body::Args(
            decls
                .iter()
                .map(|d| Ok(ArgDecl { name: d.name.clone(), default: d.default.as_deref().map(&mut one).transpose()? }))
                .collect::<Result<_, ParseError>>()?,
        ),
        Body::Copy { sources, dest } => Body::Copy {
            sources: sources
                .iter()
                .map(|s| if s.starts_with("<<") { Ok(s.clone()) } else { one(s) })
                .collect::<Result<_, _>>()?,
            dest: one(dest)?,
        },
        Body::Words(w) => Body::Words(w.iter().map(|s| one(s)).collect::<Result<_, _>>()?),
        Body::Value(v) if inst.keyword != Keyword::Maintainer => Body::Value(one(v)?),
        other => other.clone(),
    };
    exp.body = body;
    exp.flags = flags;
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn analysed(src: &str) -> Analysis {
        analyse(parse(src).unwrap()).unwrap()
    }

    #[test]
    fn image_references() {
        let r = ImageRef::parse("registry:5000/team/app:1.2@sha256:abc");
        assert_eq!(
            (r.name.as_str(), r.tag.as_deref(), r.digest.as_deref()),
            ("registry:5000/team/app", Some("1.2"), Some("sha256:abc"))
        );
        let r = ImageRef::parse("registry:5000/app");
        assert_eq!((r.name.as_str(), r.tag), ("registry:5000/app", None));
    }

    #[test]
    fn stages_bases_and_global_args() {
        let a =
            analysed("ARG GO=1.22\nFROM golang:${GO} AS build\nRUN x\nFROM build AS test\nFROM scratch\nFROM $LATER\n");
        assert_eq!(a.stages.len(), 4);
        assert_eq!(a.stages[0].base, Base::Image(ImageRef::parse("golang:1.22")));
        assert_eq!(a.stages[0].body, 2..3);
        assert_eq!(a.stages[1].base, Base::Stage(0));
        assert_eq!(a.stages[2].base, Base::Scratch);
        assert_eq!(a.stages[3].base, Base::Unknown(String::new()));
        assert_eq!(a.expanded[5].missing, vec!["LATER"]);
        assert_eq!(a.stage_of, vec![None, Some(0), Some(0), Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn env_and_arg_expansion_in_a_stage() {
        let a = analysed(
            "ARG PORT=80\nFROM a\nARG PORT\nENV DIR=/srv X=$DIR\nENV Y=$DIR\nWORKDIR $DIR/app\nEXPOSE $PORT\nARG LATE\nUSER ${LATE}\n",
        );
        assert_eq!(
            a.expanded[3].body,
            Body::Pairs(vec![
                KeyValue { key: "DIR".into(), value: "/srv".into() },
                KeyValue { key: "X".into(), value: "".into() }
            ])
        );
        assert_eq!(a.expanded[4].body, Body::Pairs(vec![KeyValue { key: "Y".into(), value: "/srv".into() }]));
        assert_eq!(a.expanded[5].body, Body::Value("/srv/app".into()));
        assert_eq!(a.expanded[6].body, Body::Words(vec!["80".into()]));
        assert!(a.expanded[8].unknown);
    }

    #[test]
    fn stages_inherit_env_from_their_base_stage() {
        let a = analysed("FROM a AS base\nENV HOME_DIR=/h\nFROM base\nWORKDIR $HOME_DIR\n");
        assert_eq!(a.expanded[3].body, Body::Value("/h".into()));
        assert_eq!(a.chain(1), vec![1, 0]);
    }

    #[test]
    fn structural_errors() {
        assert_eq!(analyse(parse("RUN x\nFROM a\n").unwrap()).unwrap_err().line, 1);
        assert_eq!(analyse(parse("ARG A\n").unwrap()).unwrap_err().message, "no FROM instruction");
        assert_eq!(analyse(parse("FROM a\nCOPY ${X:?must be set} /x\n").unwrap()).unwrap_err().line, 2);
    }
}

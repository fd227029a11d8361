//! A whole Dockerfile: directives, then instructions and comments.

use crate::directives::{self, Directives};
use crate::error::ParseError;
use crate::instruction::{self, Instruction};
use crate::lines::{self, Comment};

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The parser directives.
    pub directives: Directives,
    /// The instructions, in order.
    pub instructions: Vec<Instruction>,
    /// The comment lines (not the directives).
    pub comments: Vec<Comment>,
}

/// Parses a Dockerfile's text.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    let physical: Vec<&str> = source.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let directives = directives::parse(&physical)?;
    let (logical, comments) = lines::split(source, directives.lines, directives.escape)?;
    let instructions =
        logical.iter().map(|line| instruction::parse(line, directives.escape)).collect::<Result<Vec<_>, _>>()?;
    Ok(Dockerfile { directives, instructions, comments })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruction::{Body, CommandForm, Keyword};

    #[test]
    fn a_multi_stage_file_with_spans() {
        let src = "# syntax=docker/dockerfile:1\nARG V=1\nFROM golang:$V AS build\nRUN go build \\\n  -o /app\n\nFROM scratch\nCOPY --from=build /app /app\nCMD [\"/app\"]\n";
        let file = parse(src).unwrap();
        assert_eq!(file.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        let kinds: Vec<_> = file.instructions.iter().map(|i| i.keyword).collect();
        assert_eq!(kinds, [Keyword::Arg, Keyword::From, Keyword::Run, Keyword::From, Keyword::Copy, Keyword::Cmd]);
        let run = &file.instructions[2];
        assert_eq!((run.span.start_line, run.span.end_line), (4, 5));
        assert_eq!(run.body, Body::Command(CommandForm::Shell("go build   -o /app".into())));
    }

    #[test]
    fn escape_directive_changes_continuations() {
        let src = "# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir c:\\ `\n    /b\n";
        let file = parse(src).unwrap();
        assert_eq!(file.instructions[1].body, Body::Command(CommandForm::Shell("dir c:\\     /b".into())));
    }

    #[test]
    fn errors_carry_the_line() {
        assert_eq!(parse("FROM a\n\nBOGUS x\n").unwrap_err().line, 3);
        assert_eq!(parse("FROM a\nRUN \"unclosed\nCOPY \"a b /c\n").unwrap_err().line, 3);
        assert_eq!(parse("\r\nFROM a\r\nENV\r\n").unwrap_err().line, 3);
    }
}

//! Parser directives: `# escape=` and `# syntax=` (and `# check=`) comments at the very top of the file.
//!
//! As BuildKit reads them: only before the first instruction, empty line or ordinary comment; keys are
//! case-insensitive; each may appear once; an unknown key ends the directives and is an ordinary comment.

use crate::error::ParseError;

/// The parser directives found at the top of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape character: `\` unless `# escape=`` ` `` says otherwise.
    pub escape: char,
    /// The `# syntax=` frontend image, if given.
    pub syntax: Option<String>,
    /// The `# check=` build-check settings, if given (kept, not interpreted).
    pub check: Option<String>,
    /// How many physical lines the directives take (the lines the instruction reader skips).
    pub lines: usize,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { escape: '\\', syntax: None, check: None, lines: 0 }
    }
}

/// Reads the directives at the top of `lines` (physical lines, without line ends).
pub fn parse(lines: &[&str]) -> Result<Directives, ParseError> {
    let mut directives = Directives::default();
    let mut seen_escape = false;
    for (index, line) in lines.iter().enumerate() {
        let Some((key, value)) = directive(line) else { break };
        let number = index + 1;
        match key.as_str() {
            "escape" => {
                if seen_escape {
                    return Err(ParseError::new(number, "the escape directive is given twice"));
                }
                seen_escape = true;
                directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(ParseError::new(
                            number,
                            format!("invalid escape character {other:?}: it must be a backslash or a backtick"),
                        ));
                    }
                };
            }
            "syntax" | "check" => {
                let slot = if key == "syntax" { &mut directives.syntax } else { &mut directives.check };
                if slot.is_some() {
                    return Err(ParseError::new(number, format!("the {key} directive is given twice")));
                }
                *slot = Some(value);
            }
            _ => break,
        }
        directives.lines = number;
    }
    Ok(directives)
}

/// `# key=value` with a plain alphanumeric key, lowercased; None for anything else.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.trim().strip_prefix('#')?.trim_start();
    let (key, value) = body.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_escape_and_syntax_case_insensitively() {
        let d = parse(&["# Escape=`", "#  syntax = docker/dockerfile:1", "FROM x"]).unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.lines, 2);
    }

    #[test]
    fn stops_at_the_first_comment_empty_line_or_unknown_key() {
        assert_eq!(parse(&["# a comment", "# escape=`"]).unwrap().escape, '\\');
        assert_eq!(parse(&["", "# escape=`"]).unwrap().escape, '\\');
        let d = parse(&["# foo=bar", "# escape=`"]).unwrap();
        assert_eq!((d.escape, d.lines), ('\\', 0));
    }

    #[test]
    fn refuses_a_bad_escape_and_repeats() {
        assert_eq!(parse(&["# escape=x"]).unwrap_err().line, 1);
        assert_eq!(parse(&["# syntax=a", "# syntax=b"]).unwrap_err().line, 2);
        assert_eq!(parse(&["# escape=`", "# ESCAPE=`"]).unwrap_err().line, 2);
    }
}

//! Physical lines into logical lines: comments and empty lines between instructions, continuations with the escape
//! character (comment and empty lines inside a continuation are dropped, as BuildKit does), and the bodies of
//! heredocs (`<<EOF`, `<<-EOF` stripping leading tabs, quoted delimiters, several per instruction).

use crate::error::ParseError;
use crate::words;

/// One instruction's text, joined from its physical lines, with its heredocs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    /// The 1-based line the instruction starts on.
    pub start_line: usize,
    /// The 1-based last line of the instruction (its last heredoc's delimiter line, if any).
    pub end_line: usize,
    /// The 1-based column of the instruction's first character.
    pub column: usize,
    /// The instruction with continuations joined (the escape character and line end removed).
    pub text: String,
    /// The heredocs the instruction opens, in order.
    pub heredocs: Vec<Heredoc>,
}

/// A heredoc: `<<NAME` on the instruction line, its body on the lines after it, up to a line holding `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// `<<-NAME`: leading tabs are stripped from the body and the delimiter line.
    pub strip_tabs: bool,
    /// Whether the delimiter was quoted (`<<'EOF'`, `<<"EOF"`): the body is then not expanded.
    pub quoted: bool,
    /// The body, each line ending with a newline.
    pub body: String,
    /// The 1-based first line of the body.
    pub start_line: usize,
}

/// A comment line outside instructions (or inside a continuation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its 1-based line.
    pub line: usize,
    /// The text after `#`, trimmed.
    pub text: String,
}

/// The instructions and comments of a file whose first `skip` lines are parser directives.
pub fn split(source: &str, skip: usize, escape: char) -> Result<(Vec<LogicalLine>, Vec<Comment>), ParseError> {
    let lines: Vec<&str> = source.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut out = Vec::new();
    let mut comments = Vec::new();
    let mut i = skip;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if trimmed.is_empty() {
            i += 1;
            continue;
        }
        if let Some(text) = trimmed.strip_prefix('#') {
            comments.push(Comment { line: i + 1, text: text.trim().to_string() });
            i += 1;
            continue;
        }
        let start = i;
        let column = lines[i].chars().take_while(|c| c.is_whitespace()).count() + 1;
        let mut text = String::new();
        let mut end;
        loop {
            let (content, continues) = continuation(lines[i], escape);
            text.push_str(content);
            end = i;
            i += 1;
            if !continues {
                break;
            }
            while i < lines.len() {
                let t = lines[i].trim_start();
                if let Some(c) = t.strip_prefix('#') {
                    comments.push(Comment { line: i + 1, text: c.trim().to_string() });
                } else if !t.is_empty() {
                    break;
                }
                i += 1;
            }
            if i >= lines.len() {
                break;
            }
        }
        let text = text.trim().to_string();
        let mut heredocs = Vec::new();
        if takes_heredocs(&text) {
            for (name, strip_tabs, quoted) in markers(&text, escape) {
                let body_start = i;
                let mut body = String::new();
                loop {
                    let Some(line) = lines.get(i) else {
                        return Err(ParseError::new(
                            start + 1,
                            format!("heredoc <<{name} is not closed: no line holding {name} after line {body_start}"),
                        ));
                    };
                    let line = if strip_tabs { line.trim_start_matches('\t') } else { line };
                    i += 1;
                    if line == name {
                        break;
                    }
                    body.push_str(line);
                    body.push('\n');
                }
                end = i - 1;
                heredocs.push(Heredoc { name, strip_tabs, quoted, body, start_line: body_start + 1 });
            }
        }
        out.push(LogicalLine { start_line: start + 1, end_line: end + 1, column, text, heredocs });
    }
    Ok((out, comments))
}

/// The line without its trailing escape character (and whitespace after it), and whether it continues.
fn continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end();
    match trimmed.strip_suffix(escape) {
        Some(content) => (content, true),
        None => (line, false),
    }
}

/// RUN, COPY and ADD take heredocs (also under ONBUILD).
fn takes_heredocs(text: &str) -> bool {
    let mut words = text.split_whitespace().map(|w| w.to_ascii_uppercase());
    match words.next().as_deref() {
        Some("RUN" | "COPY" | "ADD") => true,
        Some("ONBUILD") => matches!(words.next().as_deref(), Some("RUN" | "COPY" | "ADD")),
        _ => false,
    }
}

/// The heredoc markers of an instruction line: words `<<NAME`, `<<-NAME` (an fd number may precede `<<`). A line
/// whose quotes do not close has none (a shell-form `RUN` may hold anything; its shell judges it).
fn markers(text: &str, escape: char) -> Vec<(String, bool, bool)> {
    let mut found = Vec::new();
    for word in words::split(text, escape).unwrap_or_default() {
        let digits = word.trim_start_matches(|c: char| c.is_ascii_digit());
        let Some(rest) = digits.strip_prefix("<<") else { continue };
        if rest.starts_with('<') || rest.is_empty() {
            continue;
        }
        let (strip_tabs, rest) = match rest.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let quoted = rest.contains(['"', '\'']);
        let name: String = rest.chars().filter(|c| *c != '"' && *c != '\'').collect();
        let name = name.split(['>', '|', ';', '&']).next().unwrap_or("").to_string();
        if name.is_empty() || name.contains('<') {
            continue;
        }
        found.push((name, strip_tabs, quoted));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_continuations_and_drops_comments_inside_them() {
        let src = "FROM a\n\n# top\nRUN one \\\n  # inside\n\n  two\nCMD x";
        let (lines, comments) = split(src, 0, '\\').unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].text, "RUN one   two");
        assert_eq!((lines[1].start_line, lines[1].end_line), (4, 7));
        assert_eq!(comments.iter().map(|c| c.line).collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!(lines[2].start_line, 8);
    }

    #[test]
    fn backtick_escape_leaves_backslashes_alone() {
        let src = "RUN dir C:\\ `\n  /s";
        let (lines, _) = split(src, 0, '`').unwrap();
        assert_eq!(lines[0].text, "RUN dir C:\\   /s");
        let (lines, _) = split("RUN a \\  \nb", 0, '\\').unwrap();
        assert_eq!(lines[0].text, "RUN a b");
    }

    #[test]
    fn reads_several_heredocs_with_tabs_and_quotes() {
        let src = "COPY <<one <<-'two' /dst/\nfirst\none\n\tsecond $X\n\ttwo\nRUN <<EOF\nset -e\nEOF\n";
        let (lines, _) = split(src, 0, '\\').unwrap();
        assert_eq!(lines.len(), 2);
        let h = &lines[0].heredocs;
        assert_eq!((h[0].name.as_str(), h[0].body.as_str(), h[0].quoted), ("one", "first\n", false));
        assert_eq!(
            (h[1].name.as_str(), h[1].body.as_str(), h[1].quoted, h[1].strip_tabs),
            ("two", "second $X\n", true, true)
        );
        assert_eq!((lines[0].end_line, lines[1].start_line, lines[1].end_line), (5, 6, 8));
    }

    #[test]
    fn unclosed_heredoc_names_its_line() {
        let err = split("FROM a\nRUN <<EOF\necho\n", 0, '\\').unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("EOF"));
    }

    #[test]
    fn here_strings_and_other_instructions_are_not_heredocs() {
        let (lines, _) = split("RUN cat <<<word\nCMD <<EOF\n", 0, '\\').unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.heredocs.is_empty()));
    }
}

//! Inline suppression: `# berth-lint ignore=BL001,BL005` on the comment lines right above an instruction, and
//! `# berth-lint ignore-file=BL001` anywhere for the whole file.

use std::collections::{HashMap, HashSet};

use crate::lines::Comment;
use crate::parse::Dockerfile;
use crate::rules::{self, Finding};

/// The suppressions of a file.
#[derive(Debug, Default)]
pub struct Suppressions {
    /// Rule ids ignored in the whole file.
    file: HashSet<&'static str>,
    /// Rule ids ignored per instruction start line.
    lines: HashMap<usize, HashSet<&'static str>>,
    /// Problems with the comments themselves (BL028).
    pub problems: Vec<Finding>,
}

impl Suppressions {
    /// Reads the `# berth-lint` comments of `file`.
    pub fn read(file: &Dockerfile) -> Self {
        let mut out = Suppressions::default();
        let comment_lines: HashMap<usize, &Comment> = file.comments.iter().map(|c| (c.line, c)).collect();
        for comment in &file.comments {
            let Some(rest) = comment.text.strip_prefix("berth-lint") else { continue };
            let Some((scope, ids)) = out.parse_comment(comment, rest) else { continue };
            if scope == "ignore-file" {
                out.file.extend(ids);
                continue;
            }
            // The instruction this comment block sits directly above.
            let mut line = comment.line + 1;
            while comment_lines.contains_key(&line) {
                line += 1;
            }
            if file.instructions.iter().any(|i| i.span.start_line == line) {
                out.lines.entry(line).or_default().extend(ids);
            } else {
                out.problem(comment, "`# berth-lint ignore=` must be directly above an instruction".to_string());
            }
        }
        out
    }

    /// `ignore=ID,ID` or `ignore-file=ID,ID` with known ids.
    fn parse_comment(&mut self, comment: &Comment, rest: &str) -> Option<(&'static str, Vec<&'static str>)> {
        let rest = rest.trim();
        let parsed = rest.split_once('=').and_then(|(scope, ids)| {
            let scope = match scope.trim() {
                "ignore" => "ignore",
                "ignore-file" => "ignore-file",
                _ => return None,
            };
            Some((scope, ids.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>()))
        });
        let Some((scope, ids)) = parsed.filter(|(_, ids)| !ids.is_empty()) else {
            self.problem(
                comment,
                format!("malformed berth-lint comment {rest:?}: expected ignore=ID[,ID] or ignore-file=ID[,ID]"),
            );
            return None;
        };
        let mut known = Vec::new();
        for id in ids {
            match rules::find(id) {
                Some(rule) => known.push(rule.id),
                None => self.problem(comment, format!("berth-lint comment names unknown rule {id}")),
            }
        }
        Some((scope, known))
    }

    fn problem(&mut self, comment: &Comment, message: String) {
        self.problems.push(Finding {
            rule: rules::lint_comment_rule(),
            line: comment.line,
            column: 1,
            end_line: comment.line,
            message,
        });
    }

    /// Whether `finding` is suppressed.
    pub fn hides(&self, finding: &Finding) -> bool {
        self.file.contains(finding.rule.id)
            || self.lines.get(&finding.line).is_some_and(|ids| ids.contains(finding.rule.id))
    }
}

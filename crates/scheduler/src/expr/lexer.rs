//! A position-tracking scanner for the cluster query language.
//!
//! The language is context sensitive (`!` is `not` before a comparison but starts `!=`, `!in`, `!~` and
//! `!exists` after a subject; a `=~` pattern may contain parentheses), so the parser asks the scanner for the
//! kind of token it expects next rather than tokenizing up front.

use crate::error::ExprError;

/// Characters that end a bare word (a subject, an operator word or an unquoted value).
pub(crate) fn is_delimiter(c: char) -> bool {
    matches!(c, '(' | ')' | '[' | ']' | ',' | '\'' | '"' | '&' | '|' | '!' | '=' | '<' | '>' | '~')
}

/// Scans `src` from a byte position.
pub(crate) struct Scanner<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(src: &'a str) -> Scanner<'a> {
        Scanner { src, pos: 0 }
    }

    /// The current byte offset.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    pub(crate) fn skip_ws(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn starts_with(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    /// Consumes `n` bytes (which must end on a char boundary).
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.src.len());
    }

    /// The bare word at the current position (possibly empty), without consuming it.
    pub(crate) fn peek_word(&self) -> &'a str {
        let rest = self.rest();
        let end = rest.find(|c: char| c.is_whitespace() || is_delimiter(c)).unwrap_or(rest.len());
        &rest[..end]
    }

    /// Consumes and returns the bare word at the current position (possibly empty).
    pub(crate) fn word(&mut self) -> &'a str {
        let w = self.peek_word();
        self.pos += w.len();
        w
    }

    /// Whether `keyword` (case-insensitive) is the whole bare word at the current position.
    pub(crate) fn at_keyword(&self, keyword: &str) -> bool {
        self.peek_word().eq_ignore_ascii_case(keyword)
    }

    /// A human description of the token at the current position, for "unexpected token" errors.
    pub(crate) fn describe_token(&self) -> String {
        let rest = self.rest();
        if rest.is_empty() {
            return "end of expression".to_string();
        }
        let word = self.peek_word();
        if !word.is_empty() {
            return format!("token '{word}'");
        }
        for op in ["&&", "||", "==", "!=", ">=", "<=", "=~", "!~"] {
            if rest.starts_with(op) {
                return format!("token '{op}'");
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        format!("token '{c}'")
    }

    /// An error at the current position.
    pub(crate) fn error(&self, message: impl Into<String>) -> ExprError {
        ExprError::new(message, self.pos, self.src)
    }

    /// An error at a given position.
    pub(crate) fn error_at(&self, message: impl Into<String>, pos: usize) -> ExprError {
        ExprError::new(message, pos, self.src)
    }

    /// An "unexpected token" error at the current position.
    pub(crate) fn unexpected(&self) -> ExprError {
        self.error(format!("unexpected {}", self.describe_token()))
    }

    /// A quoted string starting at the current position (`'...'` or `"..."`); a backslash before the quote
    /// character escapes it, every other backslash is kept.
    pub(crate) fn quoted(&mut self) -> Result<String, ExprError> {
        let start = self.pos;
        let Some(quote @ ('\'' | '"')) = self.peek() else { return Err(self.unexpected()) };
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1).peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\\' && chars.peek().map(|&(_, n)| n) == Some(quote) {
                out.push(quote);
                chars.next();
            } else if c == quote {
                self.pos += i + c.len_utf8();
                return Ok(out);
            } else {
                out.push(c);
            }
        }
        Err(self.error_at("unterminated quoted string", start))
    }

    /// A regular expression argument: a quoted string, or the run of characters up to white space or a `)`
    /// that closes an enclosing group (parentheses and `[...]` classes inside the pattern are balanced).
    pub(crate) fn pattern(&mut self) -> Result<String, ExprError> {
        if matches!(self.peek(), Some('\'' | '"')) {
            return self.quoted();
        }
        let rest = self.rest();
        let mut depth = 0usize;
        let mut in_class = false;
        let mut escaped = false;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' => escaped = true,
                c if c.is_whitespace() => {
                    end = i;
                    break;
                }
                '[' if !in_class => in_class = true,
                ']' if in_class => in_class = false,
                '(' if !in_class => depth += 1,
                ')' if !in_class => {
                    if depth == 0 {
                        end = i;
                        break;
                    }
                    depth -= 1;
                }
                _ => {}
            }
        }
        self.pos += end;
        Ok(rest[..end].to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_stop_at_delimiters_and_space() {
        let mut s = Scanner::new("attribute:ecs.instance-type==t2.small and");
        assert_eq!(s.word(), "attribute:ecs.instance-type");
        assert!(s.starts_with("=="));
        s.advance(2);
        assert_eq!(s.word(), "t2.small");
        s.skip_ws();
        assert!(s.at_keyword("AND"));
    }

    #[test]
    fn quoted_strings_keep_backslashes_but_unescape_quotes() {
        let mut s = Scanner::new(r"'a\.b\'c' rest");
        assert_eq!(s.quoted().unwrap(), r"a\.b'c");
        assert_eq!(s.rest(), " rest");
        let mut s = Scanner::new("\"double\"");
        assert_eq!(s.quoted().unwrap(), "double");
        let err = Scanner::new("'open").quoted();
        assert!(err.is_err());
    }

    #[test]
    fn patterns_balance_groups_and_stop_at_a_closing_paren() {
        let mut s = Scanner::new("(m5|c5).*) and x");
        assert_eq!(s.pattern().unwrap(), "(m5|c5).*");
        assert_eq!(s.rest(), ") and x");
        let mut s = Scanner::new("[)(]x\\) y");
        assert_eq!(s.pattern().unwrap(), "[)(]x\\)");
    }

    #[test]
    fn describes_tokens() {
        assert_eq!(Scanner::new(")").describe_token(), "token ')'");
        assert_eq!(Scanner::new("&& x").describe_token(), "token '&&'");
        assert_eq!(Scanner::new("").describe_token(), "end of expression");
        assert_eq!(Scanner::new("foo bar").describe_token(), "token 'foo'");
    }
}

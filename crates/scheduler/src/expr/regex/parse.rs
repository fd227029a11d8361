//! Parsing a pattern into a syntax tree (the supported subset of `java.util.regex`).

use super::{MAX_REPEAT, RegexError};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Class {
    pub(super) ranges: Vec<(char, char)>,
    pub(super) negated: bool,
}

impl Class {
    pub(super) fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat { node: Box<Node>, min: u32, max: Option<u32> },
}

fn shorthand(c: char) -> Option<Class> {
    let (ranges, negated) = match c {
        'd' => (vec![('0', '9')], false),
        'D' => (vec![('0', '9')], true),
        'w' => (vec![('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')], false),
        'W' => (vec![('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')], true),
        's' => (vec![('\t', '\r'), (' ', ' ')], false),
        'S' => (vec![('\t', '\r'), (' ', ' ')], true),
        _ => return None,
    };
    Some(Class { ranges, negated })
}

/// Adds the chars of the code point range `[lo, hi]` (skipping surrogates) to `out`.
fn push_code_points(out: &mut Vec<(char, char)>, lo: u32, hi: u32) {
    for (a, b) in [(lo, hi.min(0xD7FF)), (lo.max(0xE000), hi)] {
        if a <= b
            && let (Some(a), Some(b)) = (char::from_u32(a), char::from_u32(b))
        {
            out.push((a, b));
        }
    }
}

/// The complement of a set of ranges over all chars.
fn complement(ranges: &[(char, char)]) -> Vec<(char, char)> {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let mut out = Vec::new();
    let mut next: u32 = 0;
    for (lo, hi) in sorted {
        if (lo as u32) > next {
            push_code_points(&mut out, next, lo as u32 - 1);
        }
        next = next.max(hi as u32 + 1);
    }
    push_code_points(&mut out, next, char::MAX as u32);
    out
}

pub(super) struct Parser<'a> {
    pub(super) chars: Vec<(usize, char)>,
    pub(super) i: usize,
    pub(super) src: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).map(|&(_, c)| c)
    }

    pub(super) fn offset(&self) -> usize {
        self.chars.get(self.i).map_or(self.src.len(), |&(o, _)| o)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, RegexError> {
        Err(RegexError { message: message.into(), offset: self.offset() })
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn alt(&mut self, depth: usize) -> Result<Node, RegexError> {
        if depth > 100 {
            return self.error("regular expression is nested too deeply");
        }
        let mut branches = vec![self.concat(depth)?];
        while self.eat('|') {
            branches.push(self.concat(depth)?);
        }
        Ok(if branches.len() == 1 { branches.pop().unwrap_or(Node::Concat(Vec::new())) } else { Node::Alt(branches) })
    }

    fn concat(&mut self, depth: usize) -> Result<Node, RegexError> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom(depth)?;
            items.push(self.quantified(atom)?);
        }
        Ok(Node::Concat(items))
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.i;
        let mut n: u32 = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n.saturating_mul(10).saturating_add(d);
            self.i += 1;
        }
        (self.i > start).then_some(n)
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, RegexError> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                let open = self.offset();
                self.i += 1;
                let Some(min) = self.number() else {
                    return Err(RegexError { message: "illegal repetition".into(), offset: open });
                };
                let max = if self.eat(',') { self.number() } else { Some(min) };
                if self.peek() != Some('}') {
                    return Err(RegexError { message: "illegal repetition".into(), offset: open });
                }
                if max.is_some_and(|m| m < min) || min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
                    return Err(RegexError { message: "illegal repetition range".into(), offset: open });
                }
                (min, max)
            }
            _ => return Ok(atom),
        };
        self.i += 1;
        if self.peek() == Some('+') {
            return self.error("possessive quantifiers are not supported");
        }
        self.eat('?');
        if matches!(self.peek(), Some('*' | '+' | '?' | '{')) {
            return self.error(format!("dangling meta character '{}'", self.peek().unwrap_or('*')));
        }
        Ok(Node::Repeat { node: Box::new(atom), min, max })
    }

    fn atom(&mut self, depth: usize) -> Result<Node, RegexError> {
        let Some(c) = self.peek() else { return self.error("unexpected end of pattern") };
        match c {
            '(' => {
                let open = self.offset();
                self.i += 1;
                if self.eat('?') && !self.eat(':') {
                    return self.error("only (?:...) groups and a leading (?i) are supported");
                }
                let inner = self.alt(depth + 1)?;
                if !self.eat(')') {
                    return Err(RegexError { message: "unclosed group".into(), offset: open });
                }
                Ok(inner)
            }
            '[' => self.class(),
            '.' => {
                self.i += 1;
                Ok(Node::Any)
            }
            '^' => {
                self.i += 1;
                Ok(Node::Start)
            }
            '$' => {
                self.i += 1;
                Ok(Node::End)
            }
            '\\' => self.escape(),
            '*' | '+' | '?' => self.error(format!("dangling meta character '{c}'")),
            '{' => self.error("illegal repetition"),
            c => {
                self.i += 1;
                Ok(Node::Char(c))
            }
        }
    }

    fn hex(&mut self, n: usize) -> Result<char, RegexError> {
        let mut v = 0u32;
        for _ in 0..n {
            let Some(d) = self.peek().and_then(|c| c.to_digit(16)) else {
                return self.error("illegal hexadecimal escape sequence");
            };
            v = v * 16 + d;
            self.i += 1;
        }
        match char::from_u32(v) {
            Some(c) => Ok(c),
            None => self.error("illegal hexadecimal escape sequence"),
        }
    }

    /// After a backslash: a char, or a class for `\d`-style shorthands.
    fn escaped_char(&mut self) -> Result<Result<char, Class>, RegexError> {
        let Some(c) = self.peek() else { return self.error("unexpected end of pattern after '\\'") };
        if let Some(class) = shorthand(c) {
            self.i += 1;
            return Ok(Err(class));
        }
        let out = match c {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\u{c}',
            'a' => '\u{7}',
            'e' => '\u{1b}',
            'x' => {
                self.i += 1;
                return self.hex(2).map(Ok);
            }
            'u' => {
                self.i += 1;
                return self.hex(4).map(Ok);
            }
            c if c.is_ascii_alphanumeric() => {
                return self.error(format!("unsupported escape sequence '\\{c}'"));
            }
            c => c,
        };
        self.i += 1;
        Ok(Ok(out))
    }

    fn escape(&mut self) -> Result<Node, RegexError> {
        self.i += 1;
        match self.peek() {
            Some('A') => {
                self.i += 1;
                Ok(Node::Start)
            }
            Some('z' | 'Z') => {
                self.i += 1;
                Ok(Node::End)
            }
            Some('Q') => {
                self.i += 1;
                let mut items = Vec::new();
                while let Some(c) = self.peek() {
                    if c == '\\' && self.chars.get(self.i + 1).map(|&(_, n)| n) == Some('E') {
                        self.i += 2;
                        break;
                    }
                    items.push(Node::Char(c));
                    self.i += 1;
                }
                Ok(Node::Concat(items))
            }
            _ => Ok(match self.escaped_char()? {
                Ok(c) => Node::Char(c),
                Err(class) => Node::Class(class),
            }),
        }
    }

    fn class(&mut self) -> Result<Node, RegexError> {
        let open = self.offset();
        self.i += 1;
        let negated = self.eat('^');
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err(RegexError { message: "unclosed character class".into(), offset: open });
            };
            if c == ']' && !first {
                self.i += 1;
                break;
            }
            if c == ']' || c == '[' {
                return self.error("empty or nested character classes are not supported");
            }
            if c == '&' && self.chars.get(self.i + 1).map(|&(_, n)| n) == Some('&') {
                return self.error("character class intersections are not supported");
            }
            first = false;
            let lo = if c == '\\' {
                self.i += 1;
                match self.escaped_char()? {
                    Ok(ch) => ch,
                    Err(class) => {
                        if class.negated {
                            ranges.extend(complement(&class.ranges));
                        } else {
                            ranges.extend(class.ranges);
                        }
                        continue;
                    }
                }
            } else {
                self.i += 1;
                c
            };
            let is_range = self.peek() == Some('-') && self.chars.get(self.i + 1).is_some_and(|&(_, n)| n != ']');
            if !is_range {
                ranges.push((lo, lo));
                continue;
            }
            self.i += 1;
            let hi = match self.peek() {
                Some('\\') => {
                    self.i += 1;
                    match self.escaped_char()? {
                        Ok(ch) => ch,
                        Err(_) => return self.error("illegal character range"),
                    }
                }
                Some(ch) => {
                    self.i += 1;
                    ch
                }
                None => return Err(RegexError { message: "unclosed character class".into(), offset: open }),
            };
            if hi < lo {
                return self.error("illegal character range");
            }
            ranges.push((lo, hi));
        }
        Ok(Node::Class(Class { ranges, negated }))
    }
}

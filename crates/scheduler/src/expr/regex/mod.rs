//! A small regular-expression engine for `=~`/`!~`.
//!
//! ECS documents these operators as Java regular expressions matched against the whole value. This engine
//! supports the commonly used subset of `java.util.regex`: literals, `.`, `*`, `+`, `?`, `{n}`, `{n,}`,
//! `{n,m}` (lazy `?` suffixes accepted; they cannot change a whole-value match), classes (`[a-z]`, `[^...]`,
//! `\d \w \s` and their negations), `^`/`$`/`\A`/`\z`/`\Z`, alternation, `(...)`/`(?:...)` groups, `\Q...\E`,
//! `\xhh`/`\uhhhh` and a leading `(?i)`. Backreferences, lookaround, word boundaries, possessive quantifiers,
//! nested classes and intersections are rejected at parse time rather than misinterpreted.
//!
//! Matching runs a Pike VM (a breadth-first NFA simulation), so time is O(pattern × value) whatever the input:
//! a hostile pattern cannot make placement exponential. Counted repetitions are expanded, and the compiled
//! program is capped at [`MAX_PROGRAM`] instructions.

mod parse;

use parse::{Class, Node, Parser};

/// The largest compiled program accepted.
pub(crate) const MAX_PROGRAM: usize = 10_000;
pub(super) const MAX_REPEAT: u32 = 1_000;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Regex {
    prog: Vec<Inst>,
    classes: Vec<Class>,
    case_insensitive: bool,
}

/// Why a pattern does not compile, at which byte offset of the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegexError {
    pub(crate) message: String,
    pub(crate) offset: usize,
}

#[derive(Debug, Clone, Copy)]
enum Inst {
    Char(char),
    Any,
    Class(usize),
    Split(usize, usize),
    Jmp(usize),
    AssertStart,
    AssertEnd,
    Match,
}

struct Compiler {
    prog: Vec<Inst>,
    classes: Vec<Class>,
}

impl Compiler {
    fn push(&mut self, inst: Inst) -> Result<usize, RegexError> {
        if self.prog.len() >= MAX_PROGRAM {
            return Err(RegexError { message: "regular expression is too large".into(), offset: 0 });
        }
        self.prog.push(inst);
        Ok(self.prog.len() - 1)
    }

    fn emit(&mut self, node: &Node) -> Result<(), RegexError> {
        match node {
            Node::Char(c) => {
                self.push(Inst::Char(*c))?;
            }
            Node::Any => {
                self.push(Inst::Any)?;
            }
            Node::Class(class) => {
                self.classes.push(class.clone());
                self.push(Inst::Class(self.classes.len() - 1))?;
            }
            Node::Start => {
                self.push(Inst::AssertStart)?;
            }
            Node::End => {
                self.push(Inst::AssertEnd)?;
            }
            Node::Concat(items) => {
                for item in items {
                    self.emit(item)?;
                }
            }
            Node::Alt(branches) => {
                let mut jumps = Vec::new();
                for (k, branch) in branches.iter().enumerate() {
                    if k + 1 < branches.len() {
                        let split = self.push(Inst::Split(0, 0))?;
                        self.emit(branch)?;
                        jumps.push(self.push(Inst::Jmp(0))?);
                        let next = self.prog.len();
                        self.prog[split] = Inst::Split(split + 1, next);
                    } else {
                        self.emit(branch)?;
                    }
                }
                let end = self.prog.len();
                for j in jumps {
                    self.prog[j] = Inst::Jmp(end);
                }
            }
            Node::Repeat { node, min, max } => {
                for _ in 0..*min {
                    self.emit(node)?;
                }
                match max {
                    None => {
                        let split = self.push(Inst::Split(0, 0))?;
                        self.emit(node)?;
                        self.push(Inst::Jmp(split))?;
                        let out = self.prog.len();
                        self.prog[split] = Inst::Split(split + 1, out);
                    }
                    Some(max) => {
                        let mut splits = Vec::new();
                        for _ in *min..*max {
                            splits.push(self.push(Inst::Split(0, 0))?);
                            self.emit(node)?;
                        }
                        let out = self.prog.len();
                        for s in splits {
                            self.prog[s] = Inst::Split(s + 1, out);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A set of program counters with O(1) insert, membership and clear.
struct SparseSet {
    dense: Vec<usize>,
    sparse: Vec<usize>,
}

impl SparseSet {
    fn new(n: usize) -> SparseSet {
        SparseSet { dense: Vec::with_capacity(n), sparse: vec![0; n] }
    }

    fn contains(&self, pc: usize) -> bool {
        let i = self.sparse[pc];
        i < self.dense.len() && self.dense[i] == pc
    }

    fn insert(&mut self, pc: usize) {
        self.sparse[pc] = self.dense.len();
        self.dense.push(pc);
    }
}

impl Regex {
    /// Compiles a pattern.
    pub(crate) fn new(pattern: &str) -> Result<Regex, RegexError> {
        let (case_insensitive, body, skip) = match pattern.strip_prefix("(?i)") {
            Some(rest) => (true, rest, 4),
            None => (false, pattern, 0),
        };
        let mut parser = Parser { chars: body.char_indices().collect(), i: 0, src: body };
        let node = parser.alt(0).map_err(|e| RegexError { offset: e.offset + skip, ..e })?;
        if parser.i < parser.chars.len() {
            let offset = parser.offset() + skip;
            return Err(RegexError { message: "unmatched ')'".into(), offset });
        }
        let mut compiler = Compiler { prog: Vec::new(), classes: Vec::new() };
        compiler.emit(&node)?;
        compiler.push(Inst::Match)?;
        Ok(Regex { prog: compiler.prog, classes: compiler.classes, case_insensitive })
    }

    fn char_matches(&self, want: char, c: char) -> bool {
        want == c || (self.case_insensitive && fold(want) == fold(c))
    }

    fn class_matches(&self, class: usize, c: char) -> bool {
        let class = &self.classes[class];
        class.contains(c)
            || (self.case_insensitive && (class.contains(fold(c)) || c.to_uppercase().any(|u| class.contains(u))))
    }

    /// Adds `pc` and everything reachable from it without consuming input.
    fn add(&self, set: &mut SparseSet, stack: &mut Vec<usize>, pc: usize, at_start: bool, at_end: bool) {
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            if set.contains(pc) {
                continue;
            }
            set.insert(pc);
            match self.prog[pc] {
                Inst::Jmp(x) => stack.push(x),
                Inst::Split(x, y) => {
                    stack.push(y);
                    stack.push(x);
                }
                Inst::AssertStart if at_start => stack.push(pc + 1),
                Inst::AssertEnd if at_end => stack.push(pc + 1),
                _ => {}
            }
        }
    }

    /// Whether the pattern matches all of `text`.
    pub(crate) fn is_full_match(&self, text: &str) -> bool {
        let n = self.prog.len();
        let mut current = SparseSet::new(n);
        let mut next = SparseSet::new(n);
        let mut stack = Vec::new();
        self.add(&mut current, &mut stack, 0, true, text.is_empty());
        for (i, c) in text.char_indices() {
            if current.dense.is_empty() {
                return false;
            }
            let at_end = i + c.len_utf8() == text.len();
            next.dense.clear();
            for k in 0..current.dense.len() {
                let pc = current.dense[k];
                let advance = match self.prog[pc] {
                    Inst::Char(want) => self.char_matches(want, c),
                    Inst::Any => c != '\n' && c != '\r',
                    Inst::Class(class) => self.class_matches(class, c),
                    _ => false,
                };
                if advance {
                    self.add(&mut next, &mut stack, pc + 1, false, at_end);
                }
            }
            std::mem::swap(&mut current, &mut next);
        }
        current.dense.iter().any(|&pc| matches!(self.prog[pc], Inst::Match))
    }
}

fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

#[cfg(test)]
mod tests;

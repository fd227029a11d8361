//! The one error type: a Dockerfile that does not parse, with the line it went wrong on.

/// A Dockerfile Docker would refuse to build (or that this parser cannot read), with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// The 1-based line the problem is on (the first line of the instruction it belongs to).
    pub line: usize,
    /// What is wrong, lowercase, without a final period.
    pub message: String,
}

impl ParseError {
    /// An error at `line` saying `message`.
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError { line, message: message.into() }
    }
}

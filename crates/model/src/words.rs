//! Splitting a command line into words the way a POSIX shell quotes them, without expanding anything: what ECS
//! Exec's `command` and compose's string `command:`/`entrypoint:` need (neither runs a shell; `sh -c '...'` runs
//! one). The two differ in two details, which [`Quoting`] names: which characters separate words, and which
//! characters a backslash escapes inside double quotes.

/// How a command line is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoting {
    /// Any Unicode whitespace separates words (compose), or only space, tab and newline (ECS Exec).
    pub any_whitespace: bool,
    /// The characters a backslash escapes inside double quotes; before any other character the backslash stays.
    pub escaped_in_double_quotes: &'static [char],
}

impl Quoting {
    /// ECS Exec's `command`: blanks are space, tab and newline; `\"` and `\\` inside double quotes.
    pub const EXEC: Quoting = Quoting { any_whitespace: false, escaped_in_double_quotes: &['"', '\\'] };
    /// Compose's string `command:` and `entrypoint:`: any whitespace; `\"`, `\\`, `\$` and `` \` `` inside double
    /// quotes, as a shell reads them.
    pub const COMPOSE: Quoting = Quoting { any_whitespace: true, escaped_in_double_quotes: &['"', '\\', '$', '`'] };

    fn separates(&self, c: char) -> bool {
        if self.any_whitespace { c.is_whitespace() } else { matches!(c, ' ' | '\t' | '\n') }
    }
}

/// Why a command line cannot be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// A `'` without its closing one.
    UnterminatedSingleQuote,
    /// A `"` without its closing one.
    UnterminatedDoubleQuote,
    /// A `\` at the very end.
    TrailingBackslash,
}

impl SplitError {
    /// The reason in a few words, for an error message ("an unterminated single quote").
    pub fn words(self) -> &'static str {
        match self {
            Self::UnterminatedSingleQuote => "an unterminated single quote",
            Self::UnterminatedDoubleQuote => "an unterminated double quote",
            Self::TrailingBackslash => "a trailing backslash",
        }
    }
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.words())
    }
}

impl std::error::Error for SplitError {}

/// Splits `text` into words: separators (see [`Quoting`]) end a word; single quotes keep everything literally;
/// double quotes keep separators and let a backslash escape the characters `quoting` names; a backslash outside
/// quotes escapes the next character. An empty quoted word (`''`) is a word.
pub fn split(text: &str, quoting: Quoting) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if quoting.separates(c) => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedSingleQuote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) if quoting.escaped_in_double_quotes.contains(&c) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::UnterminatedDoubleQuote),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedDoubleQuote),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(SplitError::TrailingBackslash),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_quotings_split_alike_where_they_agree() {
        for q in [Quoting::EXEC, Quoting::COMPOSE] {
            assert_eq!(split("npm run start", q).unwrap(), ["npm", "run", "start"]);
            assert_eq!(split("  a \t b\n", q).unwrap(), ["a", "b"]);
            assert_eq!(
                split(r#"sh -c "echo 'hi there' && exit 0""#, q).unwrap(),
                ["sh", "-c", "echo 'hi there' && exit 0"]
            );
            assert_eq!(split(r#"echo 'a "b" $c'"#, q).unwrap(), ["echo", r#"a "b" $c"#]);
            assert_eq!(split(r"a\ b c", q).unwrap(), ["a b", "c"]);
            assert_eq!(split(r#"x''"#, q).unwrap(), ["x"]);
            assert_eq!(split(r#""""#, q).unwrap(), [""], "an empty quoted word is a word");
            assert!(split("", q).unwrap().is_empty());
            assert_eq!(split("echo 'oops", q), Err(SplitError::UnterminatedSingleQuote));
            assert_eq!(split("echo \"oops", q), Err(SplitError::UnterminatedDoubleQuote));
            assert_eq!(split("echo \"oops\\", q), Err(SplitError::UnterminatedDoubleQuote));
            assert_eq!(split("echo \\", q), Err(SplitError::TrailingBackslash));
        }
    }

    #[test]
    fn the_quotings_differ_in_dollar_and_backtick_escapes_and_in_what_separates() {
        assert_eq!(split(r#"echo "\$x \`y\` \n""#, Quoting::COMPOSE).unwrap(), ["echo", r"$x `y` \n"]);
        assert_eq!(split(r#"echo "\$x \`y\` \n""#, Quoting::EXEC).unwrap(), ["echo", r"\$x \`y\` \n"]);
        // U+00A0 (no-break space) is whitespace to compose, part of a word to ECS Exec.
        assert_eq!(split("a\u{a0}b", Quoting::COMPOSE).unwrap(), ["a", "b"]);
        assert_eq!(split("a\u{a0}b", Quoting::EXEC).unwrap(), ["a\u{a0}b"]);
    }
}

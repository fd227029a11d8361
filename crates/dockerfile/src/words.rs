//! Words of an instruction's arguments as BuildKit's shell lexer reads them: splitting on unquoted whitespace,
//! then quote removal with variable expansion (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`, `${VAR?message}`; the escape character makes `$` literal).
//! Single quotes stop expansion; inside double quotes the escape character escapes only `"`, `$` and itself.

/// Why a word could not be read or expanded (the caller adds the line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordError {
    /// A quote was opened and never closed.
    #[error("unterminated {0} quote")]
    Unterminated(&'static str),
    /// `${` without a closing brace, or with a name that is not a variable name.
    #[error("bad substitution in {0:?}")]
    BadSubstitution(String),
    /// `${VAR:?message}` (or `?`) with the variable unset.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message the expression gives.
        message: String,
    },
}

/// A variable's state where a word is expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// Declared with a value known from the file.
    Value(String),
    /// Declared (an `ARG` without default, or a platform argument): its value comes at build time.
    Unknown,
}

/// The result of expanding a word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expanded {
    /// The word with quotes removed and variables substituted (unknown ones as empty strings).
    pub value: String,
    /// Variables used without being declared (and without a default).
    pub missing: Vec<String>,
    /// Whether a variable whose value comes at build time was used: the value is then not the real one.
    pub unknown: bool,
}

/// The first raw word of `text` (quotes kept) and the text after it; None when only whitespace is left.
pub fn take_word(text: &str, escape: char) -> Result<Option<(String, &str)>, WordError> {
    let text = text.trim_start();
    if text.is_empty() {
        return Ok(None);
    }
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == escape => {
                chars.next();
            }
            Some(_) => {}
            None if c == escape => {
                chars.next();
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_whitespace() => return Ok(Some((text[..index].to_string(), &text[index..]))),
            None => {}
        }
    }
    match quote {
        Some('"') => Err(WordError::Unterminated("double")),
        Some(_) => Err(WordError::Unterminated("single")),
        None => Ok(Some((text.to_string(), ""))),
    }
}

/// All raw words of `text`.
pub fn split(text: &str, escape: char) -> Result<Vec<String>, WordError> {
    let mut words = Vec::new();
    let mut rest = text;
    while let Some((word, after)) = take_word(rest, escape)? {
        words.push(word);
        rest = after;
    }
    Ok(words)
}

/// Expands one raw word with the variables `lookup` knows (None: not declared).
pub fn expand(raw: &str, escape: char, lookup: &dyn Fn(&str) -> Option<Var>) -> Result<Expanded, WordError> {
    let mut out = Expanded::default();
    let chars: Vec<char> = raw.chars().collect();
    let mut i = 0;
    let mut in_double = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' && !in_double {
            let close = chars[i + 1..].iter().position(|&x| x == '\'').ok_or(WordError::Unterminated("single"))?;
            out.value.extend(&chars[i + 1..i + 1 + close]);
            i += close + 2;
        } else if c == '"' {
            in_double = !in_double;
            i += 1;
        } else if c == escape {
            match chars.get(i + 1) {
                Some(&next) if !in_double || next == '"' || next == '$' || next == escape => {
                    out.value.push(next);
                    i += 2;
                }
                _ => {
                    out.value.push(c);
                    i += 1;
                }
            }
        } else if c == '$' {
            i = dollar(&chars, i, escape, lookup, &mut out)?;
        } else {
            out.value.push(c);
            i += 1;
        }
    }
    if in_double {
        return Err(WordError::Unterminated("double"));
    }
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands the `$...` at `chars[start]` into `out`; returns the index after it.
fn dollar(
    chars: &[char],
    start: usize,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<Var>,
    out: &mut Expanded,
) -> Result<usize, WordError> {
    let next = chars.get(start + 1).copied();
    if next.is_some_and(is_name_start) {
        let end = (start + 1..chars.len()).find(|&j| !is_name_char(chars[j])).unwrap_or(chars.len());
        let name: String = chars[start + 1..end].iter().collect();
        substitute(&name, lookup, out);
        return Ok(end);
    }
    if next != Some('{') {
        out.value.push('$');
        return Ok(start + 1);
    }
    // ${...}: find the matching brace, counting nested ${.
    let mut depth = 1;
    let mut j = start + 2;
    while j < chars.len() {
        match chars[j] {
            c if c == escape => j += 1,
            '{' if chars[j - 1] == '$' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        j += 1;
    }
    let whole: String = chars[start..chars.len().min(j + 1)].iter().collect();
    if j >= chars.len() {
        return Err(WordError::BadSubstitution(whole));
    }
    let inner: String = chars[start + 2..j].iter().collect();
    let name_end = inner.find(|c: char| !is_name_char(c)).unwrap_or(inner.len());
    let name = &inner[..name_end];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(WordError::BadSubstitution(whole));
    }
    let rest = &inner[name_end..];
    if rest.is_empty() {
        substitute(name, lookup, out);
        return Ok(j + 1);
    }
    let (colon, op, word) = match rest.strip_prefix(':') {
        Some(r) => (true, r.chars().next(), r.get(1..).unwrap_or("")),
        None => (false, rest.chars().next(), rest.get(1..).unwrap_or("")),
    };
    let state = lookup(name);
    if matches!(state, Some(Var::Unknown)) {
        out.unknown = true;
    }
    let set = match &state {
        Some(Var::Value(v)) => !(colon && v.is_empty()),
        Some(Var::Unknown) => true,
        None => false,
    };
    let own = match &state {
        Some(Var::Value(v)) => v.clone(),
        _ => String::new(),
    };
    match op {
        Some('-') => {
            if set {
                out.value.push_str(&own);
            } else {
                expand_into(word, escape, lookup, out)?;
            }
        }
        Some('+') => {
            if set {
                expand_into(word, escape, lookup, out)?;
            }
        }
        Some('?') => {
            if set {
                out.value.push_str(&own);
            } else {
                let message = if word.is_empty() { "is not set".to_string() } else { word.to_string() };
                return Err(WordError::Required { name: name.to_string(), message });
            }
        }
        _ => return Err(WordError::BadSubstitution(whole)),
    }
    Ok(j + 1)
}

fn expand_into(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<Var>,
    out: &mut Expanded,
) -> Result<(), WordError> {
    let inner = expand(word, escape, lookup)?;
    out.value.push_str(&inner.value);
    out.missing.extend(inner.missing);
    out.unknown |= inner.unknown;
    Ok(())
}

fn substitute(name: &str, lookup: &dyn Fn(&str) -> Option<Var>, out: &mut Expanded) {
    match lookup(name) {
        Some(Var::Value(v)) => out.value.push_str(&v),
        Some(Var::Unknown) => out.unknown = true,
        None => {
            if !out.missing.iter().any(|m| m == name) {
                out.missing.push(name.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<Var> {
        match name {
            "A" => Some(Var::Value("alpha".into())),
            "EMPTY" => Some(Var::Value(String::new())),
            "LATER" => Some(Var::Unknown),
            _ => None,
        }
    }

    fn ex(raw: &str) -> Expanded {
        expand(raw, '\\', &vars).unwrap()
    }

    #[test]
    fn splits_on_unquoted_whitespace_keeping_quotes() {
        assert_eq!(split(r#"a "b c" 'd e' f\ g"#, '\\').unwrap(), vec!["a", "\"b c\"", "'d e'", "f\\ g"]);
        assert_eq!(split("  ", '\\').unwrap(), Vec::<String>::new());
        assert_eq!(split("a 'b", '\\').unwrap_err(), WordError::Unterminated("single"));
        assert_eq!(split("a `b c", '`').unwrap(), vec!["a", "`b", "c"]);
    }

    #[test]
    fn expands_the_forms_buildkit_knows() {
        assert_eq!(ex("$A/${A}x").value, "alpha/alphax");
        assert_eq!(ex("${NOPE:-d}").value, "d");
        assert!(ex("${NOPE:-d}").missing.is_empty());
        assert_eq!(ex("${EMPTY:-d}|${EMPTY-d}").value, "d|");
        assert_eq!(ex("${A:+yes}|${NOPE:+yes}|${EMPTY+set}").value, "yes||set");
        assert_eq!(ex("${NOPE:-${A}}").value, "alpha");
        assert_eq!(ex("$NOPE").missing, vec!["NOPE"]);
        assert!(ex("${LATER}").unknown);
        assert_eq!(ex("cost: $5 and $").value, "cost: $5 and $");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(ex(r#""$A b"'$A'\$A"#).value, "alpha b$A$A");
        assert_eq!(ex(r#""a\"b\c""#).value, r#"a"b\c"#);
        assert_eq!(expand("`$A", '`', &vars).unwrap().value, "$A");
        assert_eq!(expand(r"C:\dir\$A", '`', &vars).unwrap().value, r"C:\dir\alpha");
    }

    #[test]
    fn refuses_bad_substitutions() {
        assert!(matches!(expand("${A", '\\', &vars), Err(WordError::BadSubstitution(_))));
        assert!(matches!(expand("${1x}", '\\', &vars), Err(WordError::BadSubstitution(_))));
        assert!(matches!(expand("${A/x/y}", '\\', &vars), Err(WordError::BadSubstitution(_))));
        assert!(matches!(expand("${NOPE:?needed}", '\\', &vars), Err(WordError::Required { .. })));
        assert_eq!(expand("${A:?x}", '\\', &vars).unwrap().value, "alpha");
    }
}

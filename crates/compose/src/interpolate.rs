//! Variable interpolation in compose files' values: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alternative}`, `${VAR+alternative}` and `$$` for a literal `$`.

/// Looks up a variable (the process environment, then the project's `.env`).
pub trait Lookup {
    /// The variable's value, if it is set.
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Interpolates `text`; names of unset variables used without a default go to `unset` (compose warns and uses
/// an empty string). A `${VAR?message}` whose variable is unset, or a malformed `${`, is an error.
pub fn interpolate(text: &str, vars: &dyn Lookup, unset: &mut Vec<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = closing_brace(braced).ok_or_else(|| format!("unterminated ${{ in {text:?}"))?;
            out.push_str(&expand(&braced[..end], vars, unset)?);
            rest = &braced[end + 1..];
        } else {
            let name_len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            if name_len == 0 || after.starts_with(|c: char| c.is_ascii_digit()) {
                out.push('$');
                rest = after;
            } else {
                let name = &after[..name_len];
                out.push_str(&value_or_note(name, vars, unset));
                rest = &after[name_len..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` closing a `${` whose text starts `text` (nested `${...}` counted).
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn value_or_note(name: &str, vars: &dyn Lookup, unset: &mut Vec<String>) -> String {
    vars.get(name).unwrap_or_else(|| {
        if !unset.iter().any(|n| n == name) {
            unset.push(name.to_string());
        }
        String::new()
    })
}

fn expand(inner: &str, vars: &dyn Lookup, unset: &mut Vec<String>) -> Result<String, String> {
    let name_len = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inner.len());
    let (name, operator) = inner.split_at(name_len);
    if name.is_empty() {
        return Err(format!("${{{inner}}} names no variable"));
    }
    let value = vars.get(name);
    let set_non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let nested = |text: &str, unset: &mut Vec<String>| interpolate(text, vars, unset);
    match operator {
        "" => Ok(value_or_note(name, vars, unset)),
        _ if operator.starts_with(":-") => {
            if set_non_empty {
                Ok(value.unwrap_or_default())
            } else {
                nested(&operator[2..], unset)
            }
        }
        _ if operator.starts_with('-') => match value {
            Some(v) => Ok(v),
            None => nested(&operator[1..], unset),
        },
        _ if operator.starts_with(":?") => {
            if set_non_empty {
                Ok(value.unwrap_or_default())
            } else {
                Err(format!("{name}: {}", &operator[2..]))
            }
        }
        _ if operator.starts_with('?') => value.ok_or_else(|| format!("{name}: {}", &operator[1..])),
        _ if operator.starts_with(":+") => {
            if set_non_empty {
                nested(&operator[2..], unset)
            } else {
                Ok(String::new())
            }
        }
        _ if operator.starts_with('+') => {
            if value.is_some() {
                nested(&operator[1..], unset)
            } else {
                Ok(String::new())
            }
        }
        _ => Err(format!("${{{inner}}}: unsupported substitution")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "TAG" => Some("1.2".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(text: &str) -> (String, Vec<String>) {
        let mut unset = Vec::new();
        let out = interpolate(text, &vars, &mut unset).unwrap();
        (out, unset)
    }

    #[test]
    fn forms() {
        assert_eq!(run("app:$TAG").0, "app:1.2");
        assert_eq!(run("app:${TAG}-x").0, "app:1.2-x");
        assert_eq!(run("${NOPE:-def}").0, "def");
        assert_eq!(run("${EMPTY:-def}").0, "def");
        assert_eq!(run("${EMPTY-def}").0, "");
        assert_eq!(run("${NOPE-${TAG}}").0, "1.2");
        assert_eq!(run("${TAG:+yes}${NOPE:+no}").0, "yes");
        assert_eq!(run("$$HOME and $1").0, "$HOME and $1");
        assert_eq!(run("${NOPE}x$NOPE"), ("x".into(), vec!["NOPE".to_string()]));
    }

    #[test]
    fn errors() {
        let mut unset = Vec::new();
        assert!(interpolate("${NOPE:?must be set}", &vars, &mut unset).unwrap_err().contains("must be set"));
        assert!(interpolate("${EMPTY?x}", &vars, &mut unset).is_ok());
        assert!(interpolate("${open", &vars, &mut unset).is_err());
        assert!(interpolate("${}", &vars, &mut unset).is_err());
        assert!(interpolate("${A/b/c}", &vars, &mut unset).is_err());
    }
}

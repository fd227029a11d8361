//! `env_file` and `.env` files: `KEY=VALUE` lines as compose reads them.

/// Reads an env file's text into `(key, value)` pairs in order: blank lines and `#` comments are skipped, an
/// `export ` prefix is dropped, a value in single quotes is literal, one in double quotes has `\n`, `\t`, `\"` and
/// `\\` escapes, an unquoted value loses a trailing ` #comment` and surrounding spaces. A line with no `=` names a
/// variable without a value (`None`: taken from the environment, as compose does). A key that is not a name is an
/// error naming its line.
pub fn parse(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let (key, value) = match line.split_once('=') {
            Some((key, value)) => (key.trim(), Some(value.trim())),
            None => (line, None),
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-') {
            return Err(format!("line {}: {key:?} is not a variable name", index + 1));
        }
        let value = value.map(|v| unquote(v).map_err(|e| format!("line {}: {e}", index + 1))).transpose()?;
        pairs.push((key.to_string(), value));
    }
    Ok(pairs)
}

fn unquote(value: &str) -> Result<String, String> {
    if let Some(inner) = value.strip_prefix('\'') {
        let end = inner.find('\'').ok_or("unterminated single quote")?;
        return Ok(inner[..end].to_string());
    }
    if let Some(inner) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.chars();
        loop {
            match chars.next() {
                None => return Err("unterminated double quote".into()),
                Some('"') => return Ok(out),
                Some('\\') => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some(c) => out.push(c),
                    None => return Err("unterminated double quote".into()),
                },
                Some(c) => out.push(c),
            }
        }
    }
    let value = match value.find(" #") {
        Some(at) => &value[..at],
        None => value,
    };
    Ok(value.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn one(text: &str) -> (String, Option<String>) {
        parse(text).unwrap().remove(0)
    }

    #[test]
    fn lines_are_read_as_compose_does() {
        let text =
            "# comment\n\nA=1\nexport B = two words \nC='lit $x \\n'\nD=\"a\\nb \\\"q\\\"\"\nE=v # note\nF\nG=\n";
        let pairs = parse(text).unwrap();
        let expect: Vec<(String, Option<String>)> = vec![
            ("A".into(), Some("1".into())),
            ("B".into(), Some("two words".into())),
            ("C".into(), Some("lit $x \\n".into())),
            ("D".into(), Some("a\nb \"q\"".into())),
            ("E".into(), Some("v".into())),
            ("F".into(), None),
            ("G".into(), Some(String::new())),
        ];
        assert_eq!(pairs, expect);
        assert_eq!(one("URL=http://x/#frag"), ("URL".into(), Some("http://x/#frag".into())));
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let error = parse("A=1\nnot a name=2\n").unwrap_err();
        assert!(error.starts_with("line 2:"), "{error}");
        assert!(parse("A='open\n").is_err());
        assert!(parse("A=\"open\n").is_err());
    }
}

//! Hand-written JSON output: the workload has no serde, and only ever writes strings, numbers, arrays of strings
//! and objects of strings.

use std::fmt::Write as _;

/// Appends `s` to `out` as a quoted JSON string, escaping quotes, backslashes and control characters.
pub fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a JSON object whose values are strings, in the order given.
pub fn push_object<'a>(out: &mut String, entries: impl IntoIterator<Item = (&'a str, &'a str)>) {
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(out, k);
        out.push(':');
        push_string(out, v);
    }
    out.push('}');
}

/// Appends a JSON array of strings.
pub fn push_array<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(out, item);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> String {
        let mut out = String::new();
        push_string(&mut out, s);
        out
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(string("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(string("\u{01}\u{1f}\u{7f}\u{08}\u{0c}"), r#""\u0001\u001f\u007f\b\f""#);
    }

    #[test]
    fn keeps_unicode_as_is() {
        assert_eq!(string("héllo ☃ 🚢"), "\"héllo ☃ 🚢\"");
        assert_eq!(string(""), "\"\"");
    }

    #[test]
    fn writes_objects_and_arrays() {
        let mut out = String::new();
        push_object(&mut out, [("A", "1"), ("B\"", "x\ny")]);
        assert_eq!(out, r#"{"A":"1","B\"":"x\ny"}"#);
        let mut out = String::new();
        push_array(&mut out, ["/berth-workload", "a b"]);
        assert_eq!(out, r#"["/berth-workload","a b"]"#);
        let mut out = String::new();
        push_array(&mut out, std::iter::empty());
        push_object(&mut out, std::iter::empty());
        assert_eq!(out, "[]{}");
    }
}

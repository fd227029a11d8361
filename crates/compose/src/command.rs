//! Splitting a string `command:` or `entrypoint:` into words as compose does (shell-like quoting, no expansion).

/// Splits `text` into words: whitespace separates; single quotes keep everything literally; double quotes keep
/// spaces and let a backslash escape `"`, `\`, `$` and `` ` ``; a backslash outside quotes escapes the next character.
/// An unterminated quote or a trailing backslash is an error.
pub fn split(text: &str) -> Result<Vec<String>, String> {
    berth_model::words::split(text, berth_model::words::Quoting::COMPOSE).map_err(|e| format!("{e} in {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn words_and_quotes() {
        assert_eq!(split("npm run start").unwrap(), ["npm", "run", "start"]);
        assert_eq!(split("  a   b ").unwrap(), ["a", "b"]);
        assert_eq!(split(r#"sh -c "echo 'hi there' && exit 0""#).unwrap(), ["sh", "-c", "echo 'hi there' && exit 0"]);
        assert_eq!(split(r#"echo 'a "b" $c'"#).unwrap(), ["echo", r#"a "b" $c"#]);
        assert_eq!(split(r#"echo "a \"q\" \$x \n""#).unwrap(), ["echo", r#"a "q" $x \n"#]);
        assert_eq!(split(r"a\ b c").unwrap(), ["a b", "c"]);
        assert_eq!(split(r#"x''"#).unwrap(), ["x"]);
        assert_eq!(split(r#""""#).unwrap(), [""], "an empty quoted word is a word");
        assert!(split("").unwrap().is_empty());
    }

    #[test]
    fn unterminated_quotes_are_refused() {
        assert!(split("echo 'oops").is_err());
        assert!(split("echo \"oops").is_err());
        assert!(split("echo oops\\").is_err());
    }
}

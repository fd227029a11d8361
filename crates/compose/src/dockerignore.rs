//! `.dockerignore` patterns for the build context: `*`, `?`, `**`, a leading `/` ignored, `!` re-includes, the
//! last matching line wins, and a matched directory takes its contents with it.

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<(bool, Vec<String>)>,
}

impl DockerIgnore {
    /// Reads a `.dockerignore`'s text (comments and blank lines skipped).
    pub fn parse(text: &str) -> Self {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (include, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let parts = pattern.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_string).collect();
                (include, parts)
            })
            .collect();
        DockerIgnore { rules }
    }

    /// Whether the context path (`/`-separated, relative to the context) is left out of the build context.
    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut excluded = false;
        for (include, pattern) in &self.rules {
            // A pattern matching the path or one of its parent directories.
            let matched = (1..=parts.len()).any(|len| matches(pattern, &parts[..len]));
            if matched {
                excluded = !include;
            }
        }
        excluded
    }
}

fn matches(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => (0..=path.len()).any(|skip| matches(rest, &path[skip..])),
        Some((first, rest)) => {
            !path.is_empty() && glob(first.as_bytes(), path[0].as_bytes()) && matches(rest, &path[1..])
        }
    }
}

/// One path segment against a glob with `*` and `?`.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((b'\\', rest)) if !rest.is_empty() => {
            !text.is_empty() && rest[0] == text[0] && glob(&rest[1..], &text[1..])
        }
        Some((c, rest)) => !text.is_empty() && *c == text[0] && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::DockerIgnore;

    #[test]
    fn patterns_as_docker_reads_them() {
        let ignore =
            DockerIgnore::parse("# c\ntarget\n*.log\n/secret.txt\n**/node_modules\ndocs/*.md\n!docs/KEEP.md\n");
        assert!(ignore.excludes("target"));
        assert!(ignore.excludes("target/debug/app"), "a directory takes its contents");
        assert!(ignore.excludes("build.log"));
        assert!(!ignore.excludes("logs/build.log"), "* does not cross directories");
        assert!(ignore.excludes("secret.txt"));
        assert!(ignore.excludes("a/b/node_modules/x.js"));
        assert!(ignore.excludes("node_modules"));
        assert!(ignore.excludes("docs/README.md"));
        assert!(!ignore.excludes("docs/KEEP.md"), "! re-includes");
        assert!(!ignore.excludes("src/main.rs"));
        assert!(!ignore.excludes("Dockerfile"));
        assert!(!DockerIgnore::parse("").excludes("anything"));
        assert!(DockerIgnore::parse("file?.txt").excludes("file1.txt"));
    }
}

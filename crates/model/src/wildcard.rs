//! `*` wildcards, as ECR tag filters and lifecycle rules and CloudWatch Logs filter patterns use them: `*` matches
//! any run of characters, including none; every other character matches itself.

/// Whether `text` matches `pattern`. Works on bytes: with `*` an ASCII byte and both strings UTF-8, a byte-wise
/// match is a character-wise one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn stars_match_any_run_and_the_rest_matches_itself() {
        assert!(wildcard_match("prod*", "prod"));
        assert!(wildcard_match("prod*", "prod-1"));
        assert!(!wildcard_match("prod*", "xprod"));
        assert!(wildcard_match("*test*1*2*3", "my-test-1-2-3"));
        assert!(!wildcard_match("*test*1*2*3", "my-test-1-2-3-4"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("release", "release"));
        assert!(!wildcard_match("release", "release1"));
        assert!(wildcard_match("caf*s", "cafés"), "multi-byte characters inside a star");
        assert!(wildcard_match("é*", "été"));
        assert!(!wildcard_match("é", "e"));
    }
}

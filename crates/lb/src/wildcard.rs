//! ELBv2's wildcard patterns: `*` matches any run of characters (none included), `?` exactly one; everything else
//! matches itself, case-sensitively or not as the condition says.

/// Whether `text` matches `pattern`; `fold_case` compares ASCII letters case-insensitively (ALB folds ASCII only).
pub fn matches(pattern: &str, text: &str, fold_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| if fold_case { a.eq_ignore_ascii_case(&b) } else { a == b };
    // Iterative matching with one backtrack point (the last `*`): linear in practice, O(n*m) at worst.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || eq(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("/api/*", "/api/users/1", false));
        assert!(matches("/api/*", "/api/", false));
        assert!(!matches("/api/*", "/api", false));
        assert!(matches("*.example.com", "www.example.com", true));
        assert!(!matches("*.example.com", "example.com", true));
        assert!(matches("/img/?.png", "/img/a.png", false));
        assert!(!matches("/img/?.png", "/img/ab.png", false));
        assert!(matches("*", "", false));
        assert!(matches("a*b*c", "axxbyyc", false));
        assert!(!matches("a*b*c", "axxbyy", false));
        assert!(matches("/exact", "/exact", false));
    }

    #[test]
    fn case_rules() {
        assert!(!matches("/API", "/api", false));
        assert!(matches("WWW.Example.COM", "www.example.com", true));
        assert!(matches("é", "é", false));
    }
}

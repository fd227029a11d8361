use super::*;

fn m(pattern: &str, text: &str) -> bool {
    Regex::new(pattern).unwrap().is_full_match(text)
}

#[test]
fn literals_dot_and_star_match_whole_values() {
    assert!(m("t2.*", "t2.small"));
    assert!(m("t2.*", "t2"));
    assert!(!m("t2.*", "mt2.small"));
    assert!(!m("t2", "t2.small"), "matching is anchored at both ends");
    assert!(m("g2\\.2xlarge", "g2.2xlarge"));
    assert!(!m("g2\\.2xlarge", "g2x2xlarge"));
    assert!(m("", ""));
    assert!(!m("", "x"));
}

#[test]
fn quantifiers() {
    assert!(m("ab+c", "abbbc"));
    assert!(!m("ab+c", "ac"));
    assert!(m("ab?c", "ac"));
    assert!(m("ab?c", "abc"));
    assert!(!m("ab?c", "abbc"));
    assert!(m("a{3}", "aaa"));
    assert!(!m("a{3}", "aa"));
    assert!(m("a{2,}", "aaaaa"));
    assert!(m("a{1,2}b", "aab"));
    assert!(!m("a{1,2}b", "aaab"));
    assert!(m("a*?b", "aab"), "lazy quantifiers are accepted");
    assert!(m("(ab)*", "ababab"));
    assert!(m("(a*)*b", "aaab"), "nested stars terminate");
}

#[test]
fn classes_and_shorthands() {
    assert!(m("[a-c]+", "abcabc"));
    assert!(!m("[a-c]+", "abd"));
    assert!(m("[^0-9]+", "abc"));
    assert!(!m("[^0-9]+", "a1"));
    assert!(m("\\d+\\.\\d+", "12.5"));
    assert!(m("\\w+", "us_east_1a"));
    assert!(!m("\\w+", "us-east"));
    assert!(m("a\\sb", "a b"));
    assert!(m("[\\D]+", "abc"));
    assert!(!m("[\\D]+", "ab1"));
    assert!(m("[-a]+", "a-a"));
    assert!(m("[a-]+", "-a"));
    assert!(m("[.]", "."));
    assert!(!m("[.]", "x"));
    assert!(m("\\S+", "x"));
    assert!(m("\\W", "-"));
}

#[test]
fn anchors_alternation_and_groups() {
    assert!(m("^m5.*$", "m5.large"));
    assert!(m("(m5|c5)\\.xlarge", "c5.xlarge"));
    assert!(!m("(m5|c5)\\.xlarge", "r5.xlarge"));
    assert!(m("m5|c5", "c5"));
    assert!(m("(?:us|eu)-.*", "eu-west-1a"));
    assert!(!m("a^b", "ab"), "an anchor in the middle never matches");
    assert!(m("\\Aabc\\z", "abc"));
    assert!(m("\\Qa.b\\E", "a.b"));
    assert!(!m("\\Qa.b\\E", "axb"));
    assert!(m("\\x41\\u0042", "AB"));
}

#[test]
fn case_insensitive_flag() {
    assert!(m("(?i)T2\\.SMALL", "t2.small"));
    assert!(m("(?i)[A-Z]+", "abc"));
    assert!(!m("T2", "t2"));
}

#[test]
fn unicode_values() {
    assert!(m("z.ne", "zöne"));
    assert!(m("[ä-ü]", "ö"));
}

#[test]
fn rejects_unsupported_or_malformed_patterns_with_offsets() {
    for (pattern, offset) in [
        ("(ab", 0),
        ("ab)", 2),
        ("*a", 0),
        ("a**", 2),
        ("a{2", 1),
        ("a{3,1}", 1),
        ("[abc", 0),
        ("[]", 1),
        ("a\\1", 2),
        ("\\bword", 1),
        ("(?=x)", 2),
        ("a++", 2),
        ("[a[b]]", 2),
        ("[a&&b]", 2),
        ("[z-a]", 4),
        ("x{", 1),
        ("(?i)(", 4),
    ] {
        let err = Regex::new(pattern).unwrap_err();
        assert_eq!(err.offset, offset, "{pattern}: {err:?}");
    }
}

#[test]
fn huge_repetitions_are_capped() {
    assert!(Regex::new("(a{1000}){1000}").is_err());
    assert!(Regex::new("a{1001}").is_err());
    assert!(Regex::new("a{100}").is_ok());
}

#[test]
fn pathological_patterns_run_in_linear_time() {
    let text = "a".repeat(5000) + "b";
    assert!(!m("(a*)*c", &text));
    assert!(!m("(a|aa)+c", &text));
}

use super::*;

fn matches(pattern: &str, message: &str) -> bool {
    Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")).matches(message)
}

#[test]
fn the_empty_pattern_matches_everything() {
    assert!(matches("", "anything"));
    assert!(matches("   ", ""));
}

#[test]
fn terms_must_all_occur_case_sensitively() {
    assert!(matches("ERROR", "[ERROR] disk full"));
    assert!(!matches("ERROR", "error: disk full"));
    assert!(matches("ERROR disk", "ERROR: disk full"));
    assert!(!matches("ERROR memory", "ERROR: disk full"));
}

#[test]
fn quoted_phrases_match_as_a_whole() {
    assert!(matches("\"Failed login\"", "user bob: Failed login from 10.0.0.1"));
    assert!(!matches("\"Failed login\"", "login Failed"));
    assert!(matches("\"a \\\"quoted\\\" word\"", "a \"quoted\" word"));
    assert!(matches("\"status=500\"", "status=500"));
}

#[test]
fn question_marks_are_alternatives() {
    assert!(matches("?ERROR ?WARN", "WARN low disk"));
    assert!(matches("?ERROR ?WARN", "ERROR"));
    assert!(!matches("?ERROR ?WARN", "INFO ok"));
    assert!(matches("disk ?ERROR ?WARN", "WARN disk"));
    assert!(!matches("disk ?ERROR ?WARN", "WARN memory"));
}

#[test]
fn minus_excludes() {
    assert!(matches("ERROR -Retry", "ERROR failed"));
    assert!(!matches("ERROR -Retry", "ERROR failed; Retry in 5 s"));
    assert!(!matches("ERROR -\"will retry\"", "ERROR failed, will retry"));
}

#[test]
fn json_patterns_compare_strings_and_numbers() {
    let p = r#"{ $.level = "error" && $.ms > 100 }"#;
    assert!(matches(p, r#"{"level": "error", "ms": 250}"#));
    assert!(!matches(p, r#"{"level": "error", "ms": 50}"#));
    assert!(!matches(p, r#"{"level": "info", "ms": 250}"#));
    assert!(!matches(p, "level=error ms=250"), "not JSON: no match");
    assert!(matches(r#"{ $.level = "err*" }"#, r#"{"level": "error"}"#));
    assert!(matches("{ $.level != info }", r#"{"level": "warn"}"#));
    assert!(matches("{ $.code = 404 }", r#"{"code": 404.0}"#));
    assert!(matches("{ $.ms <= 10 || $.ms >= 1000 }", r#"{"ms": 1000}"#));
    assert!(!matches("{ $.ms < 10 }", r#"{"ms": "5"}"#), "a string is not a number");
}

#[test]
fn json_patterns_select_nested_members_and_array_items() {
    assert!(matches(r#"{ $.user.name = "bob" }"#, r#"{"user": {"name": "bob"}}"#));
    assert!(matches(r#"{ $.tags[1] = "b" }"#, r#"{"tags": ["a", "b"]}"#));
    assert!(!matches(r#"{ $.tags[5] = "b" }"#, r#"{"tags": ["a", "b"]}"#));
}

#[test]
fn json_patterns_test_null_booleans_and_absence() {
    assert!(matches("{ $.x IS NULL }", r#"{"x": null}"#));
    assert!(!matches("{ $.x IS NULL }", r#"{}"#));
    assert!(matches("{ $.ok IS TRUE }", r#"{"ok": true}"#));
    assert!(matches("{ $.ok IS FALSE }", r#"{"ok": false}"#));
    assert!(matches("{ $.x NOT EXISTS }", r#"{"y": 1}"#));
    assert!(!matches("{ $.x NOT EXISTS }", r#"{"x": 1}"#));
}

#[test]
fn json_patterns_group_with_parentheses() {
    let p = r#"{ ($.a = 1 || $.b = 1) && $.c = 1 }"#;
    assert!(matches(p, r#"{"a": 1, "c": 1}"#));
    assert!(matches(p, r#"{"b": 1, "c": 1}"#));
    assert!(!matches(p, r#"{"a": 1, "c": 2}"#));
}

#[test]
fn space_delimited_patterns_name_fields_and_test_them() {
    let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 404 2326"#;
    assert!(matches("[ip, user, username, timestamp, request, status_code, bytes]", line));
    assert!(matches("[ip, user, username, timestamp, request = \"GET*\", status_code = 4*, bytes]", line));
    assert!(!matches("[ip, user, username, timestamp, request, status_code = 5*, bytes]", line));
    assert!(matches("[ip, user, username, timestamp, request, status_code >= 400, bytes > 1000]", line));
    assert!(matches("[..., status_code = 5* || status_code = 4*, bytes]", line));
    assert!(matches("[ip = 127.0.0.1, ...]", line));
    assert!(!matches("[ip, user]", line), "the field count must match without ...");
    assert!(matches("[a, b != x, ...]", "one two three"));
}

#[test]
fn metric_values_come_from_numbers_selectors_and_fields() {
    let json = Pattern::parse("{ $.ms > 0 }").unwrap();
    assert_eq!(json.metric_value(r#"{"ms": 12.5}"#, "$.ms"), Some(12.5));
    assert_eq!(json.metric_value(r#"{"ms": 12.5}"#, "1"), Some(1.0));
    assert_eq!(json.metric_value(r#"{"ms": 0}"#, "1"), None, "no match, no value");
    let delimited = Pattern::parse("[ip, status, bytes]").unwrap();
    assert_eq!(delimited.metric_value("1.2.3.4 200 512", "$bytes"), Some(512.0));
    assert_eq!(delimited.extracted_values("1.2.3.4 200 512")["$status"], "200");
    let text = Pattern::parse("ERROR").unwrap();
    assert_eq!(text.metric_value("ERROR x", "1"), Some(1.0));
}

#[test]
fn bad_patterns_are_refused() {
    for bad in [
        "\"unclosed",
        "{ $.a = 1",
        "{ $.a }",
        "{ a = 1 }",
        "{ $.a > \"x\" }",
        "{ ($.a = 1 }",
        "[a, b",
        "[a, a]",
        "[a b]",
        "status=500",
        "-",
        "?",
        "%ERROR%",
    ] {
        assert!(Pattern::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

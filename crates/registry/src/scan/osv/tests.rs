use super::*;
use serde_json::json;

fn pkg(ecosystem: Ecosystem, name: &str, version: &str, source: Option<&str>) -> Package {
    Package { ecosystem, name: name.into(), source: source.map(Into::into), version: version.into(), path: "p".into() }
}

fn db(advisories: Vec<Value>) -> AdvisoryDb {
    let mut db = AdvisoryDb::default();
    for a in advisories {
        assert!(db.insert(a));
    }
    db.reindex();
    db
}

fn advisory(id: &str, ecosystem: &str, name: &str, events: Value, kind: &str) -> Value {
    json!({"id": id, "summary": "s", "affected": [{"package": {"ecosystem": ecosystem, "name": name},
        "ranges": [{"type": kind, "events": events}]}]})
}

#[test]
fn dpkg_ranges_match_source_packages_and_releases() {
    let db = db(vec![advisory(
        "DSA-1",
        "Debian:12",
        "openssl",
        json!([{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]),
        "ECOSYSTEM",
    )]);
    let vulnerable = pkg(Ecosystem::Debian, "libssl3", "3.0.11-1~deb12u2", Some("openssl"));
    let fixed = pkg(Ecosystem::Debian, "libssl3", "3.0.13-1~deb12u1", Some("openssl"));
    assert_eq!(db.matches(&vulnerable, Some("12")).len(), 1);
    assert!(db.matches(&fixed, Some("12")).is_empty());
    assert!(db.matches(&vulnerable, Some("11")).is_empty(), "another Debian release");
    assert_eq!(db.matches(&vulnerable, None).len(), 1);
}

#[test]
fn apk_and_semver_ranges() {
    let db = db(vec![
        advisory(
            "ALPINE-1",
            "Alpine:v3.18",
            "busybox",
            json!([{"introduced": "0"}, {"fixed": "1.36.1-r6"}]),
            "ECOSYSTEM",
        ),
        advisory(
            "RUSTSEC-1",
            "crates.io",
            "smallvec",
            json!([{"introduced": "0.6.0"}, {"fixed": "0.6.14"}, {"introduced": "1.0.0"}, {"fixed": "1.6.1"}]),
            "SEMVER",
        ),
        advisory("GHSA-1", "npm", "lodash", json!([{"introduced": "0"}, {"last_affected": "4.17.20"}]), "ECOSYSTEM"),
    ]);
    assert_eq!(db.matches(&pkg(Ecosystem::Alpine, "busybox", "1.36.1-r5", None), Some("3.18.4")).len(), 1);
    assert!(db.matches(&pkg(Ecosystem::Alpine, "busybox", "1.36.1-r15", None), Some("3.18.4")).is_empty());
    assert!(db.matches(&pkg(Ecosystem::Alpine, "busybox", "1.36.1-r5", None), Some("3.19.0")).is_empty());
    for (v, hit) in [
        ("0.5.9", false),
        ("0.6.0", true),
        ("0.6.13", true),
        ("0.6.14", false),
        ("1.0.0", true),
        ("1.6.0", true),
        ("1.6.1", false),
        ("1.10.0", false),
    ] {
        assert_eq!(!db.matches(&pkg(Ecosystem::Crates, "smallvec", v, None), None).is_empty(), hit, "smallvec {v}");
    }
    assert_eq!(db.matches(&pkg(Ecosystem::Npm, "lodash", "4.17.20", None), None).len(), 1);
    assert!(db.matches(&pkg(Ecosystem::Npm, "lodash", "4.17.21", None), None).is_empty());
}

#[test]
fn explicit_versions_and_git_ranges() {
    let db = db(vec![json!({"id": "X-1", "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
        "versions": ["1.0.0"], "ranges": [{"type": "GIT", "repo": "r", "events": [{"introduced": "0"}]}]}]})]);
    assert_eq!(db.matches(&pkg(Ecosystem::Npm, "left-pad", "1.0.0", None), None).len(), 1);
    assert!(db.matches(&pkg(Ecosystem::Npm, "left-pad", "1.0.1", None), None).is_empty());
}

#[test]
fn severities_from_words_and_cvss() {
    assert_eq!(cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), Some(9.8));
    assert_eq!(cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"), Some(6.1));
    assert_eq!(cvss3_base_score("CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N"), Some(0.0));
    assert_eq!(cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H"), Some(9.9));
    assert_eq!(cvss3_base_score("garbage"), None);
    let a: Advisory = serde_json::from_value(
        json!({"id": "A", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}],
        "affected": [{"package": {"ecosystem": "npm", "name": "x"}}]}),
    )
    .unwrap();
    assert_eq!(severity_of(&a, &a.affected[0]).0, FindingSeverity::Medium);
    let g: Advisory = serde_json::from_value(json!({"id": "G", "database_specific": {"severity": "MODERATE"},
        "affected": [{"package": {"ecosystem": "npm", "name": "x"}}]}))
    .unwrap();
    assert_eq!(severity_of(&g, &g.affected[0]).0, FindingSeverity::Medium);
    let n: Advisory =
        serde_json::from_value(json!({"id": "N", "affected": [{"package": {"ecosystem": "npm", "name": "x"}}]}))
            .unwrap();
    assert_eq!(severity_of(&n, &n.affected[0]).0, FindingSeverity::Undefined);
}

#[test]
fn the_database_persists() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = db(vec![advisory("A-1", "npm", "x", json!([{"introduced": "0"}]), "SEMVER")]);
    d.imported_at = Some(5.0);
    d.save(dir.path()).unwrap();
    let loaded = AdvisoryDb::load(dir.path()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded.imported_at, Some(5.0));
    assert!(!AdvisoryDb::default().insert(json!({"not": "osv"})));
}

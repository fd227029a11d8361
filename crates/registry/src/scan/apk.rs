//! Alpine's package database (`lib/apk/db/installed`).

use super::inventory::{Ecosystem, Package};

/// Parses the database: blank-line separated records of `X:value` lines (`P` name, `V` version, `o` origin).
pub fn parse(text: &str, path: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for record in text.split("\n\n") {
        let (mut name, mut version, mut origin) = (None, None, None);
        for line in record.lines() {
            match line.split_once(':') {
                Some(("P", v)) => name = Some(v.trim().to_string()),
                Some(("V", v)) => version = Some(v.trim().to_string()),
                Some(("o", v)) => origin = Some(v.trim().to_string()),
                _ => {}
            }
        }
        if let (Some(name), Some(version)) = (name, version) {
            let source = origin.filter(|o| o != &name);
            out.push(Package { ecosystem: Ecosystem::Alpine, name, source, version, path: path.to_string() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records() {
        let text = "C:Q1abc=\nP:musl\nV:1.2.4-r2\no:musl\nA:x86_64\n\nP:libcrypto3\nV:3.1.4-r1\no:openssl\n\n";
        let pkgs = parse(text, "lib/apk/db/installed");
        assert_eq!(pkgs.len(), 2);
        assert_eq!(
            (pkgs[0].name.as_str(), pkgs[0].version.as_str(), pkgs[0].source.as_deref()),
            ("musl", "1.2.4-r2", None)
        );
        assert_eq!(pkgs[1].source.as_deref(), Some("openssl"));
    }
}

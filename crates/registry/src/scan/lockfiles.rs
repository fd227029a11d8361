//! Language lockfiles: `Cargo.lock` (crates.io) and `package-lock.json` (npm, lockfile versions 1 to 3).

use super::inventory::{Ecosystem, Package};
use serde_json::Value;

/// Parses a Cargo.lock: every `[[package]]` with a `name` and `version` (path and git dependencies included only
/// when they come from crates.io, i.e. have a registry `source` or none at all for the workspace's own).
pub fn cargo_lock(text: &str, path: &str) -> Vec<Package> {
    let mut out = Vec::new();
    let mut current: Option<(Option<String>, Option<String>, Option<String>)> = None;
    let flush = |c: Option<(Option<String>, Option<String>, Option<String>)>, out: &mut Vec<Package>| {
        if let Some((Some(name), Some(version), source)) = c
            && source.as_deref().is_none_or(|s| s.starts_with("registry+"))
        {
            out.push(Package { ecosystem: Ecosystem::Crates, name, source: None, version, path: path.to_string() });
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            flush(current.take(), &mut out);
            current = Some((None, None, None));
            continue;
        }
        if line.starts_with('[') {
            flush(current.take(), &mut out);
            continue;
        }
        let Some(c) = current.as_mut() else { continue };
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim().trim_matches('"').to_string();
        match key.trim() {
            "name" => c.0 = Some(value),
            "version" => c.1 = Some(value),
            "source" => c.2 = Some(value),
            _ => {}
        }
    }
    flush(current, &mut out);
    out
}

/// Parses a package-lock.json (the `packages` map of versions 2 and 3, else the `dependencies` tree of version 1).
pub fn package_lock(text: &str, path: &str) -> Vec<Package> {
    let Ok(doc) = serde_json::from_str::<Value>(text) else { return Vec::new() };
    let mut out = Vec::new();
    let mut push = |name: &str, version: &str| {
        if !name.is_empty() && !version.is_empty() {
            out.push(Package {
                ecosystem: Ecosystem::Npm,
                name: name.to_string(),
                source: None,
                version: version.to_string(),
                path: path.to_string(),
            });
        }
    };
    if let Some(packages) = doc.get("packages").and_then(Value::as_object) {
        for (key, info) in packages {
            let Some(idx) = key.rfind("node_modules/") else { continue }; // "" is the project itself
            if info.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let name = info.get("name").and_then(Value::as_str).unwrap_or(&key[idx + "node_modules/".len()..]);
            push(name, info.get("version").and_then(Value::as_str).unwrap_or(""));
        }
    } else if let Some(deps) = doc.get("dependencies").and_then(Value::as_object) {
        let mut stack: Vec<&serde_json::Map<String, Value>> = vec![deps];
        while let Some(map) = stack.pop() {
            for (name, info) in map {
                push(name, info.get("version").and_then(Value::as_str).unwrap_or(""));
                if let Some(nested) = info.get("dependencies").and_then(Value::as_object) {
                    stack.push(nested);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_lock_packages() {
        let text = "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"x\"\n\n[[package]]\nname = \"forked\"\nversion = \"1.0.0\"\nsource = \"git+https://example.invalid/forked\"\n\n[metadata]\nfoo = \"bar\"\n";
        let pkgs = cargo_lock(text, "Cargo.lock");
        let got: Vec<_> = pkgs.iter().map(|p| (p.name.as_str(), p.version.as_str())).collect();
        assert_eq!(got, vec![("app", "0.1.0"), ("smallvec", "1.6.0")]);
    }

    #[test]
    fn package_lock_versions() {
        let v3 = r#"{"lockfileVersion":3,"packages":{"":{"name":"app","version":"1.0.0"},
            "node_modules/lodash":{"version":"4.17.20"},
            "node_modules/a/node_modules/@scope/b":{"version":"2.0.0"},
            "node_modules/local":{"link":true,"resolved":"../local"}}}"#;
        let got: Vec<_> = package_lock(v3, "p").into_iter().map(|p| (p.name, p.version)).collect();
        assert!(got.contains(&("lodash".into(), "4.17.20".into())));
        assert!(got.contains(&("@scope/b".into(), "2.0.0".into())));
        assert_eq!(got.len(), 2);
        let v1 = r#"{"lockfileVersion":1,"dependencies":{"minimist":{"version":"1.2.5","dependencies":{"x":{"version":"0.1.0"}}}}}"#;
        assert_eq!(package_lock(v1, "p").len(), 2);
        assert!(package_lock("not json", "p").is_empty());
    }
}

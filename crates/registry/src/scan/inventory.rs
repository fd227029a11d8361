//! The image's package inventory: the package databases and lockfiles of the flattened filesystem.
//!
//! Layers are applied in order, as a container runtime would: a `.wh.<name>` entry deletes `<name>` (and all under
//! it) from the layers below, and `.wh..wh..opq` empties its directory of the layers below. Only the files the
//! scanner reads are kept: `etc/os-release`, dpkg's `status` and `status.d/*`, apk's `installed`, and every
//! `Cargo.lock` and `package-lock.json` outside `node_modules`.

use super::{apk, dpkg, lockfiles};
use flate2::read::GzDecoder;
use std::collections::BTreeMap;
use std::io::Read;

/// The most a single file of interest may weigh.
const MAX_FILE: u64 = 64 << 20;

/// A package ecosystem the scanner knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    /// Debian packages (dpkg).
    Debian,
    /// Ubuntu packages (dpkg).
    Ubuntu,
    /// Alpine packages (apk).
    Alpine,
    /// Rust crates (Cargo.lock).
    Crates,
    /// npm packages (package-lock.json).
    Npm,
}

impl Ecosystem {
    /// The OSV ecosystem name (without a release).
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::Debian => "Debian",
            Ecosystem::Ubuntu => "Ubuntu",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::Crates => "crates.io",
            Ecosystem::Npm => "npm",
        }
    }
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Its ecosystem.
    pub ecosystem: Ecosystem,
    /// The package name.
    pub name: String,
    /// The source package (dpkg `Source:`, apk origin), when it differs.
    pub source: Option<String>,
    /// The installed version.
    pub version: String,
    /// The file it was found in.
    pub path: String,
}

/// The inventory of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// `ID` from os-release (`debian`, `ubuntu`, `alpine`).
    pub os_id: Option<String>,
    /// `VERSION_ID` from os-release.
    pub os_version: Option<String>,
    /// The packages found.
    pub packages: Vec<Package>,
    /// Layers that could not be read (e.g. zstd), with why.
    pub skipped_layers: Vec<String>,
}

fn interesting(path: &str) -> bool {
    matches!(path, "etc/os-release" | "usr/lib/os-release" | "var/lib/dpkg/status" | "lib/apk/db/installed")
        || (path.starts_with("var/lib/dpkg/status.d/") && !path.ends_with(".md5sums"))
        || ((path.ends_with("/Cargo.lock")
            || path == "Cargo.lock"
            || path.ends_with("/package-lock.json")
            || path == "package-lock.json")
            && !path.split('/').any(|c| c == "node_modules"))
}

fn normalize(path: &str) -> String {
    path.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/').to_string()
}

/// Applies the layers (each gzip'd or plain tar) in order and keeps the files of interest.
pub fn flatten<'a>(layers: impl IntoIterator<Item = &'a [u8]>) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for (index, blob) in layers.into_iter().enumerate() {
        let reader: Box<dyn Read> = if blob.starts_with(&[0x1f, 0x8b]) {
            Box::new(GzDecoder::new(blob))
        } else if blob.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            skipped.push(format!("layer {index}: zstd compression is not supported"));
            continue;
        } else {
            Box::new(blob)
        };
        let mut deletions: Vec<(String, bool)> = Vec::new();
        let mut additions: Vec<(String, Vec<u8>)> = Vec::new();
        let mut archive = tar::Archive::new(reader);
        let entries = match archive.entries() {
            Ok(e) => e,
            Err(e) => {
                skipped.push(format!("layer {index}: {e}"));
                continue;
            }
        };
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    skipped.push(format!("layer {index}: {e}"));
                    break;
                }
            };
            let Ok(path) = entry.path().map(|p| normalize(&p.to_string_lossy())) else { continue };
            let (dir, name) = match path.rsplit_once('/') {
                Some((d, n)) => (d.to_string(), n.to_string()),
                None => (String::new(), path.clone()),
            };
            if name == ".wh..wh..opq" {
                deletions.push((dir, true));
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let target = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
                deletions.push((target, false));
                continue;
            }
            if entry.header().entry_type().is_file() && interesting(&path) && entry.size() <= MAX_FILE {
                let mut data = Vec::new();
                if entry.read_to_end(&mut data).is_ok() {
                    additions.push((path, data));
                }
            }
        }
        for (target, opaque) in deletions {
            let prefix = if target.is_empty() { String::new() } else { format!("{target}/") };
            files.retain(|p, _| !(p.starts_with(&prefix) || (!opaque && *p == target)));
        }
        files.extend(additions);
    }
    (files, skipped)
}

fn os_release(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
}

/// Builds the inventory from the layers of an image.
pub fn collect<'a>(layers: impl IntoIterator<Item = &'a [u8]>) -> Inventory {
    let (files, skipped_layers) = flatten(layers);
    let release = files.get("etc/os-release").or_else(|| files.get("usr/lib/os-release"));
    let release = release.map(|b| String::from_utf8_lossy(b).to_string());
    let os_id = release.as_deref().and_then(|r| os_release(r, "ID"));
    let os_version = release.as_deref().and_then(|r| os_release(r, "VERSION_ID"));
    let deb_ecosystem = if os_id.as_deref() == Some("ubuntu") { Ecosystem::Ubuntu } else { Ecosystem::Debian };
    let mut packages = Vec::new();
    for (path, data) in &files {
        let text = String::from_utf8_lossy(data);
        if path == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/") {
            packages.extend(dpkg::parse(&text, path, deb_ecosystem));
        } else if path == "lib/apk/db/installed" {
            packages.extend(apk::parse(&text, path));
        } else if path.ends_with("Cargo.lock") {
            packages.extend(lockfiles::cargo_lock(&text, path));
        } else if path.ends_with("package-lock.json") {
            packages.extend(lockfiles::package_lock(&text, path));
        }
    }
    packages.sort_by(|a, b| (a.ecosystem, &a.name, &a.version).cmp(&(b.ecosystem, &b.name, &b.version)));
    packages.dedup_by(|a, b| a.ecosystem == b.ecosystem && a.name == b.name && a.version == b.version);
    Inventory { os_id, os_version, packages, skipped_layers }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut e, data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn whiteouts_and_opaque_directories_are_honoured() {
        let l1 = gz(&tar_of(&[
            ("app/Cargo.lock", b"[[package]]\nname = \"a\"\nversion = \"1.0.0\"\n"),
            ("srv/Cargo.lock", b"[[package]]\nname = \"b\"\nversion = \"1.0.0\"\n"),
            ("opt/x/Cargo.lock", b"[[package]]\nname = \"c\"\nversion = \"1.0.0\"\n"),
            ("etc/passwd", b"root"),
        ]));
        let l2 = tar_of(&[
            ("app/.wh.Cargo.lock", b""),
            ("opt/.wh..wh..opq", b""),
            ("opt/y/Cargo.lock", b"[[package]]\nname = \"d\"\nversion = \"2.0.0\"\n"),
        ]);
        let (files, skipped) = flatten([l1.as_slice(), l2.as_slice()]);
        assert!(skipped.is_empty());
        assert_eq!(files.keys().collect::<Vec<_>>(), vec!["opt/y/Cargo.lock", "srv/Cargo.lock"]);
        let inv = collect([l1.as_slice(), l2.as_slice()]);
        let names: Vec<_> = inv.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["b", "d"]);
    }

    #[test]
    fn whiting_out_a_directory_removes_its_files() {
        let l1 = tar_of(&[("var/lib/dpkg/status", b"Package: x\nStatus: install ok installed\nVersion: 1\n")]);
        let l2 = tar_of(&[("var/lib/.wh.dpkg", b"")]);
        assert!(collect([l1.as_slice(), l2.as_slice()]).packages.is_empty());
        let zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 0];
        assert_eq!(collect([zstd.as_slice()]).skipped_layers.len(), 1);
    }

    #[test]
    fn os_release_and_node_modules() {
        let l = tar_of(&[
            ("etc/os-release", b"ID=ubuntu\nVERSION_ID=\"22.04\"\n"),
            ("var/lib/dpkg/status", b"Package: bash\nStatus: install ok installed\nVersion: 5.1-6ubuntu1\n"),
            ("app/node_modules/x/package-lock.json", b"{}"),
        ]);
        let inv = collect([l.as_slice()]);
        assert_eq!((inv.os_id.as_deref(), inv.os_version.as_deref()), (Some("ubuntu"), Some("22.04")));
        assert_eq!(inv.packages.len(), 1);
        assert_eq!(inv.packages[0].ecosystem, Ecosystem::Ubuntu);
    }
}

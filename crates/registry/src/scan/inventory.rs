//! The image's package inventory: the package databases and lockfiles of the flattened filesystem.
//!
//! Layers are applied in order, as a container runtime would: a `.wh.<name>` entry deletes `<name>` (and all under
//! it) from the layers below, and `.wh..wh..opq` empties its directory of the layers below. Only the files the
//! scanner reads are kept: `etc/os-release`, dpkg's `status` and `status.d/*`, apk's `installed`, and every
//! `Cargo.lock` and `package-lock.json` outside `node_modules`.
//!
//! Each layer is read as a stream (gzip, including multi-member gzip, or plain tar) within [`ScanLimits`]: no layer
//! is held in memory, long names are read only up to a small size, and what is left out is recorded in
//! [`Skipped`].

use super::apk;
use super::budget::{Budget, Consumed, ScanLimits, Skipped, Stop};
use super::{dpkg, lockfiles};
use flate2::bufread::MultiGzDecoder;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

/// The longest GNU long name or pax header a scan reads (longer ones are skipped with their entry).
const MAX_NAME_BYTES: u64 = 64 << 10;

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
    /// What the scan did not read (layers, files over the limits), with why.
    pub skipped: Skipped,
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

/// Applies layers in order, keeping the files of interest within the limits.
pub struct Flattener {
    limits: ScanLimits,
    files: BTreeMap<String, Vec<u8>>,
    kept: u64,
    expanded: u64,
    stopped: bool,
    skipped: Skipped,
}

/// Removes `path` and everything under it (or only what is under it, for `under_only`).
fn remove_tree(files: &mut BTreeMap<String, Vec<u8>>, path: &str, under_only: bool) -> u64 {
    let prefix = if path.is_empty() { String::new() } else { format!("{path}/") };
    let mut doomed: Vec<String> =
        files.range(prefix.clone()..).take_while(|(p, _)| p.starts_with(&prefix)).map(|(p, _)| p.clone()).collect();
    if !under_only && files.contains_key(path) {
        doomed.push(path.to_string());
    }
    doomed.iter().filter_map(|p| files.remove(p)).map(|d| d.len() as u64).sum()
}

/// A long name (GNU `L` entry, or a pax header's `path`), if it is small enough to read.
fn long_name(entry: &mut tar::Entry<'_, impl Read>, pax: bool) -> io::Result<Option<String>> {
    if entry.size() > MAX_NAME_BYTES {
        return Ok(None);
    }
    let mut data = Vec::new();
    entry.read_to_end(&mut data)?;
    if !pax {
        let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
        return Ok(Some(String::from_utf8_lossy(&data[..end]).to_string()));
    }
    Ok(tar::PaxExtensions::new(&data)
        .flatten()
        .find(|e| e.key() == Ok("path"))
        .map(|e| String::from_utf8_lossy(e.value_bytes()).to_string()))
}

impl Flattener {
    /// An empty filesystem.
    pub fn new(limits: &ScanLimits) -> Self {
        Flattener {
            limits: *limits,
            files: BTreeMap::new(),
            kept: 0,
            expanded: 0,
            stopped: false,
            skipped: Skipped::new(limits),
        }
    }

    /// Records a layer that could not be opened.
    pub fn skip_layer(&mut self, index: usize, why: impl std::fmt::Display) {
        self.skipped.layer(index, why);
    }

    /// Applies the next layer (gzip'd or plain tar), read as a stream.
    pub fn add_layer(&mut self, index: usize, reader: impl Read) {
        if self.stopped {
            self.skipped.layer(index, "not read: the image's layers already expanded past the scan's limit");
            return;
        }
        let mut reader = BufReader::with_capacity(64 << 10, reader);
        let head = match reader.fill_buf() {
            Ok(head) => head,
            Err(e) => {
                self.skipped.layer(index, e);
                return;
            }
        };
        let left = self.limits.max_expanded_bytes.saturating_sub(self.expanded);
        let mut budget = if head.starts_with(&[0x1f, 0x8b]) {
            let compressed = Rc::new(Cell::new(0));
            let decoder: Box<dyn Read> = Box::new(MultiGzDecoder::new(Consumed::new(reader, compressed.clone())));
            let (ratio, floor) = (self.limits.max_inflate_ratio, self.limits.ratio_floor_bytes);
            Budget::new(decoder, left).with_ratio(compressed, ratio, floor)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            self.skipped.layer(index, "zstd compression is not supported");
            return;
        } else {
            Budget::new(Box::new(reader) as Box<dyn Read>, left)
        };
        let mut additions = Vec::new();
        let outcome = self.read_entries(&mut budget, &mut additions);
        self.expanded += budget.used;
        for (path, data) in additions {
            if let Some(old) = self.files.insert(path, data) {
                self.kept = self.kept.saturating_sub(old.len() as u64);
            }
        }
        match budget.stopped {
            Some(Stop::Expanded) => {
                self.stopped = true;
                let max = self.limits.max_expanded_bytes;
                self.skipped
                    .layer(index, format!("read only in part: the image's layers expand to more than {max} bytes"));
            }
            Some(Stop::Ratio) => {
                let (ratio, used) = (self.limits.max_inflate_ratio, budget.used);
                self.skipped.layer(
                    index,
                    format!(
                        "not read past {used} bytes: it inflates more than {ratio} times its compressed size \
                         (a decompression bomb)"
                    ),
                );
            }
            None => {
                if let Err(e) = outcome {
                    self.skipped.layer(index, e);
                }
            }
        }
    }

    fn read_entries(&mut self, reader: &mut impl Read, additions: &mut Vec<(String, Vec<u8>)>) -> io::Result<()> {
        let mut archive = tar::Archive::new(reader);
        let mut name: Option<String> = None;
        for entry in archive.entries()?.raw(true) {
            let mut entry = entry?;
            let kind = entry.header().entry_type();
            if kind.is_gnu_longname() || kind.is_pax_local_extensions() {
                // An unreadable long name hides the entry it names (the empty path is of no interest).
                name = Some(long_name(&mut entry, kind.is_pax_local_extensions())?.unwrap_or_default());
                continue;
            }
            if kind.is_gnu_longlink() || kind.is_pax_global_extensions() {
                continue;
            }
            let path = match name.take() {
                Some(long) => normalize(&long),
                None => normalize(&entry.path()?.to_string_lossy()),
            };
            let (dir, base) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            // Whiteouts delete from the layers below, which is what `files` holds while this layer is read.
            if base == ".wh..wh..opq" {
                self.kept = self.kept.saturating_sub(remove_tree(&mut self.files, dir, true));
                continue;
            }
            if let Some(hidden) = base.strip_prefix(".wh.") {
                let target = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
                self.kept = self.kept.saturating_sub(remove_tree(&mut self.files, &target, false));
                continue;
            }
            if !kind.is_file() || !interesting(&path) {
                continue;
            }
            let size = entry.size();
            if size > self.limits.max_file_bytes {
                self.skipped.too_large(&path, size);
                continue;
            }
            if self.kept + size > self.limits.max_kept_bytes
                || self.files.len() + additions.len() >= self.limits.max_kept_files
            {
                self.skipped.over_budget(&path);
                continue;
            }
            let mut data = Vec::with_capacity(size as usize);
            (&mut entry).take(size).read_to_end(&mut data)?;
            self.kept += data.len() as u64;
            additions.push((path, data));
        }
        Ok(())
    }

    /// The files of interest kept so far.
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// The inventory of the layers applied.
    pub fn into_inventory(self) -> Inventory {
        inventory_of(&self.files, self.skipped)
    }
}

fn os_release(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
}

/// Builds the inventory from the layers of an image, read in order.
pub fn collect<R: Read>(layers: impl IntoIterator<Item = R>, limits: &ScanLimits) -> Inventory {
    let mut flattener = Flattener::new(limits);
    for (index, layer) in layers.into_iter().enumerate() {
        flattener.add_layer(index, layer);
    }
    flattener.into_inventory()
}

fn inventory_of(files: &BTreeMap<String, Vec<u8>>, skipped: Skipped) -> Inventory {
    let release = files.get("etc/os-release").or_else(|| files.get("usr/lib/os-release"));
    let release = release.map(|b| String::from_utf8_lossy(b).to_string());
    let os_id = release.as_deref().and_then(|r| os_release(r, "ID"));
    let os_version = release.as_deref().and_then(|r| os_release(r, "VERSION_ID"));
    let deb_ecosystem = if os_id.as_deref() == Some("ubuntu") { Ecosystem::Ubuntu } else { Ecosystem::Debian };
    let mut packages = Vec::new();
    for (path, data) in files {
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
    Inventory { os_id, os_version, packages, skipped }
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
        let limits = ScanLimits::default();
        let mut f = Flattener::new(&limits);
        f.add_layer(0, l1.as_slice());
        f.add_layer(1, l2.as_slice());
        assert!(f.skipped.is_empty());
        assert_eq!(f.files().keys().collect::<Vec<_>>(), vec!["opt/y/Cargo.lock", "srv/Cargo.lock"]);
        let inv = collect([l1.as_slice(), l2.as_slice()], &limits);
        let names: Vec<_> = inv.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["b", "d"]);
    }

    #[test]
    fn whiting_out_a_directory_removes_its_files() {
        let l1 = tar_of(&[("var/lib/dpkg/status", b"Package: x\nStatus: install ok installed\nVersion: 1\n")]);
        let l2 = tar_of(&[("var/lib/.wh.dpkg", b"")]);
        let limits = ScanLimits::default();
        assert!(collect([l1.as_slice(), l2.as_slice()], &limits).packages.is_empty());
        let zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 0];
        let text = collect([zstd.as_slice()], &limits).skipped.describe().join(" ");
        assert!(text.contains("layer 0: zstd compression is not supported"), "{text}");
    }

    #[test]
    fn os_release_and_node_modules() {
        let l = tar_of(&[
            ("etc/os-release", b"ID=ubuntu\nVERSION_ID=\"22.04\"\n"),
            ("var/lib/dpkg/status", b"Package: bash\nStatus: install ok installed\nVersion: 5.1-6ubuntu1\n"),
            ("app/node_modules/x/package-lock.json", b"{}"),
        ]);
        let inv = collect([l.as_slice()], &ScanLimits::default());
        assert_eq!((inv.os_id.as_deref(), inv.os_version.as_deref()), (Some("ubuntu"), Some("22.04")));
        assert_eq!(inv.packages.len(), 1);
        assert_eq!(inv.packages[0].ecosystem, Ecosystem::Ubuntu);
    }

    /// A gzip member of `data`.
    fn member(data: &[u8]) -> Vec<u8> {
        gz(data)
    }

    #[test]
    fn caps_skip_large_files_and_stop_at_the_expanded_budget_and_say_so() {
        let limits = ScanLimits {
            max_file_bytes: 1024,
            max_kept_bytes: 2048,
            max_kept_files: 100,
            max_expanded_bytes: 64 << 10,
            max_inflate_ratio: 1000,
            ratio_floor_bytes: 1 << 30,
            ..ScanLimits::default()
        };
        let small = b"[[package]]\nname = \"a\"\nversion = \"1.0.0\"\n".repeat(10);
        let big = vec![0u8; 4096];
        let layer = tar_of(&[
            ("a/Cargo.lock", &small),
            ("b/Cargo.lock", &big),
            ("c/Cargo.lock", &small),
            ("d/Cargo.lock", &small),
            ("e/Cargo.lock", &small),
            ("f/Cargo.lock", &small),
        ]);
        // Two gzip members: multi-member gzip is read to its end.
        let (head, tail) = layer.split_at(1024);
        let mut gzipped = member(head);
        gzipped.extend(member(tail));
        let inv = collect([gzipped.as_slice()], &limits);
        assert_eq!(inv.packages.len(), 1);
        let text = inv.skipped.describe().join(" | ");
        assert!(
            text.contains("1 files of interest larger than 1024 bytes were not read (b/Cargo.lock, 4096 bytes)"),
            "{text}"
        );
        assert!(text.contains("files of interest were not read because"), "{text}");
        // A layer expanding past the budget stops it, and the layers after it are not read.
        let huge = gz(&tar_of(&[("blob", &vec![0u8; 256 << 10])]));
        let inv = collect([huge.as_slice(), gzipped.as_slice()], &limits);
        let text = inv.skipped.describe().join(" | ");
        assert!(text.contains("2 layers were not read in full"), "{text}");
        assert!(text.contains("layer 0: read only in part") && text.contains("layer 1: not read"), "{text}");
        // A gzip bomb stops at the ratio, and the next layer is still read.
        let bombs = ScanLimits { max_inflate_ratio: 100, ratio_floor_bytes: 32 << 10, ..ScanLimits::default() };
        let inv = collect([huge.as_slice(), gzipped.as_slice()], &bombs);
        let text = inv.skipped.describe().join(" | ");
        assert!(text.contains("1 layers were not read in full (layer 0: not read past"), "{text}");
        assert!(text.contains("(a decompression bomb)"), "{text}");
        assert_eq!(inv.packages.len(), 1);
    }

    #[test]
    fn long_names_are_followed_up_to_a_limit() {
        let long = format!("{}/Cargo.lock", "d".repeat(150));
        let mut b = tar::Builder::new(Vec::new());
        let data = b"[[package]]\nname = \"z\"\nversion = \"1.0.0\"\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, &long, &data[..]).unwrap();
        let layer = b.into_inner().unwrap();
        let inv = collect([layer.as_slice()], &ScanLimits::default());
        assert_eq!(inv.packages.len(), 1);
        assert_eq!(inv.packages[0].path, long);
    }
}

//! OSV advisories: the imported database, matching packages against affected ranges, and severities.
//!
//! The database is one JSON file in the data directory (`advisories.json`, written atomically), indexed in memory
//! by (ecosystem, package). Ranges of type `ECOSYSTEM` and `SEMVER` are evaluated as the OSV schema says (events
//! in version order: `introduced` opens, `fixed` and `last_affected` close), with the ecosystem's own version
//! ordering; explicit `versions` lists match too. `GIT` ranges are ignored.

use super::inventory::{Ecosystem, Package};
use super::version::{self, Scheme};
use crate::error::{RegistryError, Result};
use berth_model::Timestamp;
use berth_model::ecr::FindingSeverity;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One OSV advisory (the fields the scanner uses; the raw document is kept on disk).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Advisory {
    /// The OSV id.
    pub id: String,
    /// A one-line summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Details.
    #[serde(default)]
    pub details: Option<String>,
    /// Other ids (CVE-...).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Severity scores.
    #[serde(default)]
    pub severity: Vec<Severity>,
    /// Affected packages.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// References.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Database-specific fields (GHSA's `severity`).
    #[serde(default)]
    pub database_specific: Option<Value>,
}

/// A severity score.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Severity {
    /// `CVSS_V3`, `CVSS_V4`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector.
    pub score: String,
}

/// A reference link.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Reference {
    /// Its type.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The URL.
    pub url: String,
}

/// An affected package.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Affected {
    /// The package.
    pub package: AffectedPackage,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<AffectedRange>,
    /// Explicit versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Ecosystem-specific fields (some carry a severity).
    #[serde(default)]
    pub ecosystem_specific: Option<Value>,
    /// Database-specific fields.
    #[serde(default)]
    pub database_specific: Option<Value>,
}

/// The package of an affected entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AffectedPackage {
    /// `Debian:12`, `Alpine:v3.18`, `crates.io`, `npm` ...
    pub ecosystem: String,
    /// The package name.
    pub name: String,
}

/// A range of affected versions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AffectedRange {
    /// `ECOSYSTEM`, `SEMVER` or `GIT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The events.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// A range event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// Affected from this version on.
    pub introduced: Option<String>,
    /// Fixed in this version.
    pub fixed: Option<String>,
    /// Affected up to and including this version.
    pub last_affected: Option<String>,
}

#[derive(Serialize, Deserialize, Default)]
struct Stored {
    imported_at: Option<Timestamp>,
    advisories: Vec<Value>,
}

/// The advisory database.
#[derive(Debug, Default)]
pub struct AdvisoryDb {
    raw: BTreeMap<String, Value>,
    by_package: HashMap<(String, String), Vec<Arc<Advisory>>>,
    /// When advisories were last imported.
    pub imported_at: Option<Timestamp>,
}

/// The advisory database file in a registry data directory.
pub(crate) fn db_path(dir: &Path) -> PathBuf {
    dir.join("advisories.json")
}

/// The base of an OSV ecosystem (`Debian:12` -> `debian`) and its release (`12`).
pub fn split_ecosystem(ecosystem: &str) -> (String, Option<String>) {
    match ecosystem.split_once(':') {
        Some((base, release)) => (base.to_ascii_lowercase(), Some(release.to_string())),
        None => (ecosystem.to_ascii_lowercase(), None),
    }
}

impl AdvisoryDb {
    /// Loads the database from `dir` (empty if none was imported).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = db_path(dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(RegistryError::Io { operation: "read", path: path.display().to_string(), source });
            }
        };
        let stored: Stored = serde_json::from_slice(&bytes)
            .map_err(|source| RegistryError::Record { key: path.display().to_string(), source })?;
        let mut db = Self { imported_at: stored.imported_at, ..Self::default() };
        for value in stored.advisories {
            db.insert(value);
        }
        db.reindex();
        Ok(db)
    }

    /// Adds (or replaces, by id) an advisory; `false` if it is not an OSV advisory.
    pub fn insert(&mut self, value: Value) -> bool {
        let Ok(advisory) = serde_json::from_value::<Advisory>(value.clone()) else { return false };
        if advisory.id.is_empty() {
            return false;
        }
        self.raw.insert(advisory.id.clone(), value);
        true
    }

    /// Rebuilds the package index after inserts.
    pub fn reindex(&mut self) {
        self.by_package.clear();
        for value in self.raw.values() {
            let Ok(advisory) = serde_json::from_value::<Advisory>(value.clone()) else { continue };
            let advisory = Arc::new(advisory);
            for affected in &advisory.affected {
                let (base, _) = split_ecosystem(&affected.package.ecosystem);
                let entry = self.by_package.entry((base, affected.package.name.clone())).or_default();
                if !entry.iter().any(|a| a.id == advisory.id) {
                    entry.push(advisory.clone());
                }
            }
        }
    }

    /// Writes the database to `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let stored = Stored { imported_at: self.imported_at, advisories: self.raw.values().cloned().collect() };
        let bytes =
            serde_json::to_vec(&stored).map_err(|source| RegistryError::Record { key: "advisories".into(), source })?;
        crate::storage::write_atomic(&db_path(dir), &bytes)?;
        Ok(())
    }

    /// How many advisories the database holds.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the database is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The advisories affecting a package, each with the affected entry that matched.
    pub fn matches<'a>(&'a self, package: &Package, release: Option<&str>) -> Vec<(&'a Advisory, &'a Affected)> {
        let base = package.ecosystem.osv_name().to_ascii_lowercase();
        let mut names = vec![package.name.as_str()];
        if let Some(source) = &package.source {
            names.push(source);
        }
        let mut out = Vec::new();
        for name in names {
            let Some(list) = self.by_package.get(&(base.clone(), name.to_string())) else { continue };
            for advisory in list {
                if out.iter().any(|(a, _): &(&Advisory, &Affected)| a.id == advisory.id) {
                    continue;
                }
                let hit = advisory.affected.iter().find(|aff| {
                    let (aff_base, aff_release) = split_ecosystem(&aff.package.ecosystem);
                    aff_base == base
                        && aff.package.name == name
                        && release_matches(package.ecosystem, aff_release.as_deref(), release)
                        && is_affected(aff, package.ecosystem, &package.version)
                });
                if let Some(aff) = hit {
                    out.push((advisory.as_ref(), aff));
                }
            }
        }
        out
    }
}

fn release_matches(ecosystem: Ecosystem, advisory: Option<&str>, image: Option<&str>) -> bool {
    let (Some(advisory), Some(image)) = (advisory, image) else { return true };
    match ecosystem {
        // Alpine advisories say `v3.18`; os-release says `3.18.4`.
        Ecosystem::Alpine => {
            let want = advisory.trim_start_matches('v');
            image == want || image.starts_with(&format!("{want}."))
        }
        // `Ubuntu:22.04:LTS`, `Ubuntu:Pro:22.04:LTS` name the release among other words.
        Ecosystem::Ubuntu => advisory.split(':').any(|part| part == image),
        _ => advisory == image || advisory.split('.').next() == image.split('.').next(),
    }
}

fn scheme_for(ecosystem: Ecosystem, range_kind: &str) -> Scheme {
    if range_kind == "SEMVER" {
        return Scheme::Semver;
    }
    match ecosystem {
        Ecosystem::Debian | Ecosystem::Ubuntu => Scheme::Dpkg,
        Ecosystem::Alpine => Scheme::Apk,
        Ecosystem::Crates | Ecosystem::Npm => Scheme::Semver,
    }
}

/// Whether `version` is affected according to an affected entry.
pub fn is_affected(affected: &Affected, ecosystem: Ecosystem, version: &str) -> bool {
    if affected.versions.iter().any(|v| v == version) {
        return true;
    }
    affected.ranges.iter().filter(|r| r.kind != "GIT").any(|range| {
        let scheme = scheme_for(ecosystem, &range.kind);
        let cmp = |a: &str, b: &str| -> Ordering {
            if a == "0" {
                if b == "0" { Ordering::Equal } else { Ordering::Less }
            } else {
                version::compare(scheme, a, b)
            }
        };
        let mut events: Vec<(&str, u8)> = Vec::new();
        for e in &range.events {
            if let Some(v) = &e.introduced {
                events.push((v, 0));
            }
            if let Some(v) = &e.fixed {
                events.push((v, 1));
            }
            if let Some(v) = &e.last_affected {
                events.push((v, 2));
            }
        }
        events.sort_by(|a, b| cmp(a.0, b.0).then(a.1.cmp(&b.1)));
        let mut hit = false;
        for (v, kind) in events {
            match kind {
                0 if cmp(v, version) != Ordering::Greater => hit = true,
                1 if cmp(v, version) != Ordering::Greater => hit = false,
                2 if cmp(v, version) == Ordering::Less => hit = false,
                _ => {}
            }
        }
        hit
    })
}

/// The fixed version an affected entry names for `version`'s range, if any.
pub fn fixed_version(affected: &Affected) -> Option<String> {
    affected.ranges.iter().flat_map(|r| r.events.iter()).find_map(|e| e.fixed.clone())
}

fn severity_word(word: &str) -> Option<FindingSeverity> {
    Some(match word.to_ascii_uppercase().as_str() {
        "CRITICAL" => FindingSeverity::Critical,
        "HIGH" | "IMPORTANT" => FindingSeverity::High,
        "MEDIUM" | "MODERATE" => FindingSeverity::Medium,
        "LOW" | "NEGLIGIBLE" | "UNIMPORTANT" => FindingSeverity::Low,
        "NONE" | "INFORMATIONAL" => FindingSeverity::Informational,
        _ => return None,
    })
}

/// The ECR severity of an advisory: a database-given word first, else its CVSS v3 base score.
pub fn severity_of(advisory: &Advisory, affected: &Affected) -> (FindingSeverity, Option<(String, f64)>) {
    let cvss = advisory
        .severity
        .iter()
        .filter(|s| s.kind == "CVSS_V3")
        .find_map(|s| cvss3_base_score(&s.score).map(|score| (s.score.clone(), score)));
    let word = [&affected.ecosystem_specific, &affected.database_specific, &advisory.database_specific]
        .into_iter()
        .flatten()
        .find_map(|v| v.get("severity").and_then(Value::as_str).and_then(severity_word));
    let severity = word.or_else(|| cvss.as_ref().map(|(_, score)| score_severity(*score)));
    (severity.unwrap_or(FindingSeverity::Undefined), cvss)
}

fn score_severity(score: f64) -> FindingSeverity {
    match score {
        s if s >= 9.0 => FindingSeverity::Critical,
        s if s >= 7.0 => FindingSeverity::High,
        s if s >= 4.0 => FindingSeverity::Medium,
        s if s > 0.0 => FindingSeverity::Low,
        _ => FindingSeverity::Informational,
    }
}

fn roundup(x: f64) -> f64 {
    let i = (x * 100_000.0).round() as i64;
    if i % 10_000 == 0 { i as f64 / 100_000.0 } else { ((i / 10_000) + 1) as f64 / 10.0 }
}

/// The CVSS v3.x base score of a vector (`CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`), per the specification.
pub fn cvss3_base_score(vector: &str) -> Option<f64> {
    let mut m = HashMap::new();
    let mut parts = vector.split('/');
    if !parts.next()?.starts_with("CVSS:3") {
        return None;
    }
    for part in parts {
        let (k, v) = part.split_once(':')?;
        m.insert(k, v);
    }
    let changed = *m.get("S")? == "C";
    let av = match *m.get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match *m.get("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (*m.get("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match *m.get("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |k: &str| -> Option<f64> {
        Some(match *m.get(k)? {
            "H" => 0.56,
            "L" => 0.22,
            "N" => 0.0,
            _ => return None,
        })
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if changed { 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15) } else { 6.42 * iss };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    Some(if changed {
        roundup((1.08 * (impact + exploitability)).min(10.0))
    } else {
        roundup((impact + exploitability).min(10.0))
    })
}

#[cfg(test)]
mod tests;

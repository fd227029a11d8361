//! Pull-through cache rule records: what they hold, how a repository name finds its rule, and their storage.

use crate::Registry;
use crate::error::{RegistryError, Result};
use berth_model::Timestamp;
use berth_model::ecr::UpstreamRegistry;
use berth_store::{Txn, TxnOutcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where rules live in the store.
pub(crate) const RULE_PREFIX: &str = "/ecr/ptc/";

/// The `ecrRepositoryPrefix` that matches every repository.
pub(crate) const ROOT: &str = "ROOT";

/// A pull-through cache rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRecord {
    /// `ecrRepositoryPrefix` without a trailing `/` (or `ROOT`).
    pub prefix: String,
    /// `upstreamRegistryUrl` as given (a host, or `http://host:port` as a Berth extension).
    pub upstream_url: String,
    /// `upstreamRegistry`, given or recognised from the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_registry: Option<UpstreamRegistry>,
    /// The Secrets Manager secret with the upstream credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_arn: Option<String>,
    /// `upstreamRepositoryPrefix` (`None` is `ROOT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_prefix: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last updated.
    pub updated_at: Timestamp,
}

/// The credentials a rule's secret holds (`{"username": ..., "accessToken": ...}`).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamCredentials {
    /// The upstream user name.
    pub username: String,
    /// The upstream password or access token.
    pub access_token: String,
}

impl std::fmt::Debug for UpstreamCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamCredentials").field("username", &self.username).finish_non_exhaustive()
    }
}

impl RuleRecord {
    /// The rest of `name` after this rule's prefix, if the rule covers `name`.
    pub fn rest_of<'a>(&self, name: &'a str) -> Option<&'a str> {
        if self.prefix == ROOT {
            return Some(name);
        }
        name.strip_prefix(self.prefix.as_str()).and_then(|r| r.strip_prefix('/')).filter(|r| !r.is_empty())
    }

    /// The upstream repository a local repository `name` (covered by this rule) stands for.
    pub fn upstream_repository(&self, name: &str) -> Option<String> {
        let rest = self.rest_of(name)?;
        Some(match self.upstream_prefix.as_deref() {
            None | Some(ROOT) | Some("") => rest.to_string(),
            Some(p) => format!("{}/{rest}", p.trim_end_matches('/')),
        })
    }

    /// The upstream's base URL (`https://host` unless the rule names `http://`).
    pub fn base_url(&self) -> String {
        if self.upstream_url.starts_with("http://") || self.upstream_url.starts_with("https://") {
            self.upstream_url.trim_end_matches('/').to_string()
        } else {
            format!("https://{}", self.upstream_url.trim_end_matches('/'))
        }
    }
}

/// Normalises an upstream URL for comparison: lower case, no trailing `/`, and `https://` dropped (a bare host
/// means https, as ECR's URLs are written).
pub(crate) fn normalize_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/').to_ascii_lowercase();
    url.strip_prefix("https://").map(str::to_string).unwrap_or(url)
}

/// The host (with port) of a normalised URL.
pub(crate) fn host_of(normalized: &str) -> &str {
    let rest = normalized.strip_prefix("http://").unwrap_or(normalized);
    rest.split('/').next().unwrap_or(rest)
}

/// Why an `ecrRepositoryPrefix` is invalid (the model's pattern and length), or `None`.
pub(crate) fn prefix_problem(prefix: &str) -> Option<String> {
    let constraint = "Member must satisfy regular expression pattern: \
        ^([a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*\\/?|ROOT)$";
    if prefix.len() < 2 || prefix.len() > 30 {
        return Some(format!(
            "Value '{prefix}' at 'ecrRepositoryPrefix' failed to satisfy constraint: Member must have length between 2 and 30"
        ));
    }
    if prefix == ROOT {
        return None;
    }
    let body = prefix.strip_suffix('/').unwrap_or(prefix);
    if body.is_empty() || !body.split('/').all(crate::names::valid_component) {
        return Some(format!("Value '{prefix}' at 'ecrRepositoryPrefix' failed to satisfy constraint: {constraint}"));
    }
    None
}

/// The rules, mirrored in memory.
#[derive(Debug, Default)]
pub(crate) struct Rules(std::sync::RwLock<BTreeMap<String, RuleRecord>>);

impl Rules {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, RuleRecord>> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, RuleRecord>> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Every rule, by prefix.
    pub(crate) fn all(&self) -> Vec<RuleRecord> {
        self.read().values().cloned().collect()
    }

    /// The rule with this prefix.
    pub(crate) fn get(&self, prefix: &str) -> Option<RuleRecord> {
        self.read().get(prefix).cloned()
    }

    /// The rule covering `name`: the longest matching prefix, `ROOT` last.
    pub(crate) fn covering(&self, name: &str) -> Option<RuleRecord> {
        let rules = self.read();
        rules
            .values()
            .filter(|r| r.rest_of(name).is_some())
            .max_by_key(|r| if r.prefix == ROOT { 0 } else { r.prefix.len() + 1 })
            .cloned()
    }
}

fn key(prefix: &str) -> String {
    format!("{RULE_PREFIX}{prefix}")
}

impl Registry {
    /// Loads the rules from the store into memory (at open).
    pub(crate) async fn load_rules(&self) -> Result<()> {
        let range = self.store.range(RULE_PREFIX).await?;
        let mut map = BTreeMap::new();
        for kv in range.kvs {
            let record: RuleRecord = serde_json::from_slice(&kv.value)
                .map_err(|source| RegistryError::Record { key: kv.key.clone(), source })?;
            map.insert(record.prefix.clone(), record);
        }
        *self.rules.write() = map;
        Ok(())
    }

    /// The pull-through cache rule covering repository `name`, if any.
    pub fn pull_through_rule(&self, name: &str) -> Option<RuleRecord> {
        self.rules.covering(name)
    }

    /// Stores a rule; `expect_new` makes it a create (`false` if the prefix is taken), else an update.
    pub(crate) async fn put_rule(&self, record: &RuleRecord, expect_new: bool) -> Result<bool> {
        let key = key(&record.prefix);
        let value = serde_json::to_vec(record).map_err(|source| RegistryError::Record { key: key.clone(), source })?;
        let mut txn = Txn::new();
        if expect_new {
            txn = txn.expect(key.clone(), 0);
        }
        match self.store.txn(txn.put(key, value)).await? {
            TxnOutcome::Committed { .. } => {
                self.rules.write().insert(record.prefix.clone(), record.clone());
                Ok(true)
            }
            TxnOutcome::Conflict { .. } => Ok(false),
        }
    }

    /// Deletes a rule; the deleted record, or `None`.
    pub(crate) async fn delete_rule(&self, prefix: &str) -> Result<Option<RuleRecord>> {
        let Some(record) = self.rules.get(prefix) else { return Ok(None) };
        self.store.txn(Txn::new().delete(key(prefix))).await?;
        self.rules.write().remove(prefix);
        Ok(Some(record))
    }

    /// The rules mirror.
    pub(crate) fn rules(&self) -> &Rules {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str, upstream_prefix: Option<&str>) -> RuleRecord {
        RuleRecord {
            prefix: prefix.into(),
            upstream_url: "http://127.0.0.1:5000".into(),
            upstream_registry: None,
            credential_arn: None,
            upstream_prefix: upstream_prefix.map(str::to_string),
            created_at: 0.0,
            updated_at: 0.0,
        }
    }

    #[test]
    fn names_map_to_upstream_repositories() {
        let r = rule("hub", None);
        assert_eq!(r.upstream_repository("hub/library/nginx").as_deref(), Some("library/nginx"));
        assert_eq!(r.upstream_repository("hubx/nginx"), None);
        assert_eq!(r.upstream_repository("hub"), None);
        let r = rule("hub", Some("mirror/"));
        assert_eq!(r.upstream_repository("hub/app").as_deref(), Some("mirror/app"));
        let root = rule(ROOT, None);
        assert_eq!(root.upstream_repository("a/b").as_deref(), Some("a/b"));
        assert_eq!(r.base_url(), "http://127.0.0.1:5000");
        let mut https = rule("q", None);
        https.upstream_url = "quay.io".into();
        assert_eq!(https.base_url(), "https://quay.io");
    }

    #[test]
    fn the_longest_prefix_covers_a_name_and_root_comes_last() {
        let rules = Rules::default();
        for r in [rule("a", None), rule("a/b", None), rule(ROOT, None)] {
            rules.write().insert(r.prefix.clone(), r);
        }
        assert_eq!(rules.covering("a/b/c").map(|r| r.prefix), Some("a/b".into()));
        assert_eq!(rules.covering("a/x").map(|r| r.prefix), Some("a".into()));
        assert_eq!(rules.covering("zz").map(|r| r.prefix), Some(ROOT.into()));
    }

    #[test]
    fn prefixes_follow_the_model() {
        assert!(prefix_problem("ecr-public").is_none());
        assert!(prefix_problem("ecr-public/").is_none());
        assert!(prefix_problem("a/b").is_none());
        assert!(prefix_problem(ROOT).is_none());
        assert!(prefix_problem("A").is_some());
        assert!(prefix_problem("Hub").is_some());
        assert!(prefix_problem(&"a".repeat(31)).is_some());
        assert!(prefix_problem("a//b").is_some());
        assert_eq!(normalize_url("https://Quay.io/"), "quay.io");
        assert_eq!(normalize_url("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(host_of("http://127.0.0.1:5000"), "127.0.0.1:5000");
    }
}

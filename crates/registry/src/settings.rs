//! Registry-wide settings: the registry policy, the registry scanning configuration, the account settings and the
//! pull-time update exclusions.
//!
//! They are one JSON record in the Berth store under [`SETTINGS_KEY`], mirrored in memory with its revision.
//! Every change is a compare-and-swap on that revision (a lost race re-reads the record and applies the change
//! again), so two concurrent calls never undo each other.

use crate::Registry;
use crate::error::{RegistryError, Result};
use berth_iam::policy::{NamedPolicy, PolicyDocument, PolicyKind};
use berth_model::Timestamp;
use berth_model::ecr::{
    RegistryScanningConfiguration, RegistryScanningRule, ReplicationConfiguration, ScanFrequency, ScanType,
    SigningConfiguration,
};
use berth_store::{Txn, TxnOutcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where the settings record lives in the store.
pub(crate) const SETTINGS_KEY: &str = "/ecr/settings";

/// How many times a settings change is retried when another change wins the race.
const MAX_ATTEMPTS: usize = 16;

/// The registry-wide settings record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrySettings {
    /// The registry policy (an IAM resource policy document), as put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The registry scanning configuration, as put (`None`: never put, BASIC with no rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanning: Option<RegistryScanningConfiguration>,
    /// Account settings put explicitly, by name (the others have their defaults).
    #[serde(default)]
    pub account: BTreeMap<String, String>,
    /// Principals whose pulls do not update `lastRecordedPullTime`, with when each was registered.
    #[serde(default)]
    pub pull_exclusions: BTreeMap<String, Timestamp>,
    /// The advisory database import (`imported_at`) the last continuous re-scan ran for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuous_scan_db: Option<Timestamp>,
    /// The replication configuration, as put (`None`: never put, no rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<ReplicationConfiguration>,
    /// The signing configuration, as put (`None`: never put, or deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningConfiguration>,
}

impl RegistrySettings {
    /// The scanning configuration in effect: as put, or ECR's default (BASIC, no rules).
    pub fn scanning_configuration(&self) -> RegistryScanningConfiguration {
        let mut config = self.scanning.clone().unwrap_or_default();
        config.scan_type.get_or_insert(ScanType::Basic);
        config.rules.get_or_insert_with(Vec::new);
        config
    }

    /// The registry scanning rule that applies to repository `name`, if any: the first rule (in the order put)
    /// with a filter matching the name, the matching filters of that rule with it.
    pub fn scanning_rule_for(&self, name: &str) -> Option<(RegistryScanningRule, Vec<String>)> {
        let config = self.scanning.as_ref()?;
        config.rules.as_ref()?.iter().find_map(|rule| {
            let matched: Vec<String> = rule
                .repository_filters
                .iter()
                .filter(|f| crate::names::wildcard_match(&f.filter, name))
                .map(|f| f.filter.clone())
                .collect();
            (!matched.is_empty()).then(|| (rule.clone(), matched))
        })
    }

    /// Whether an image pushed to repository `name` is scanned by a registry rule: a SCAN_ON_PUSH rule, or (with
    /// ENHANCED scanning, which also scans on push) a CONTINUOUS_SCAN rule, matches it.
    pub fn scans_on_push(&self, name: &str) -> bool {
        self.scanning_rule_for(name).is_some_and(|(rule, _)| match rule.scan_frequency {
            ScanFrequency::ScanOnPush => true,
            ScanFrequency::ContinuousScan => self.is_enhanced(),
            ScanFrequency::Manual => false,
        })
    }

    /// Whether repository `name` is re-scanned when the advisory database changes (ENHANCED, CONTINUOUS_SCAN).
    pub fn scans_continuously(&self, name: &str) -> bool {
        self.is_enhanced()
            && self
                .scanning_rule_for(name)
                .is_some_and(|(rule, _)| rule.scan_frequency == ScanFrequency::ContinuousScan)
    }

    /// Whether any repository may be scanned continuously (ENHANCED with a CONTINUOUS_SCAN rule).
    pub fn has_continuous_rules(&self) -> bool {
        self.is_enhanced()
            && self
                .scanning
                .as_ref()
                .and_then(|c| c.rules.as_ref())
                .is_some_and(|rules| rules.iter().any(|r| r.scan_frequency == ScanFrequency::ContinuousScan))
    }

    fn is_enhanced(&self) -> bool {
        self.scanning.as_ref().and_then(|c| c.scan_type) == Some(ScanType::Enhanced)
    }

    /// Whether `principal` (an IAM user or role ARN, or an STS assumed-role session of a role) is excluded from
    /// pull-time recording.
    pub fn pull_excluded(&self, principal: &str) -> bool {
        if self.pull_exclusions.is_empty() {
            return false;
        }
        self.pull_exclusions.contains_key(principal)
            || role_of_session(principal).is_some_and(|role| self.pull_exclusions.contains_key(&role))
    }
}

/// An account setting: its name, the values it takes and its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSetting {
    /// The setting's name.
    pub name: &'static str,
    /// The values PutAccountSetting accepts.
    pub values: &'static [&'static str],
    /// The value until one is put.
    pub default: &'static str,
}

/// `BASIC_SCAN_TYPE_VERSION`: Berth has one basic scanner, standing for ECR's `AWS_NATIVE`.
pub const BASIC_SCAN_TYPE_VERSION: AccountSetting =
    AccountSetting { name: "BASIC_SCAN_TYPE_VERSION", values: &["AWS_NATIVE"], default: "AWS_NATIVE" };

/// `REGISTRY_POLICY_SCOPE`: V1 (the registry policy holds and governs only replication and pull-through
/// actions) or V2 (every ECR action; ECR's default).
pub const REGISTRY_POLICY_SCOPE: AccountSetting =
    AccountSetting { name: "REGISTRY_POLICY_SCOPE", values: &["V1", "V2"], default: "V2" };

/// `BLOB_MOUNTING`: whether cross-repository blob mounts are honoured (Berth's default is ENABLED, its behaviour
/// before the setting existed; ECR's is DISABLED).
pub const BLOB_MOUNTING: AccountSetting =
    AccountSetting { name: "BLOB_MOUNTING", values: &["ENABLED", "DISABLED"], default: "ENABLED" };

/// Every account setting Berth knows.
pub const ACCOUNT_SETTINGS: [AccountSetting; 3] = [BASIC_SCAN_TYPE_VERSION, REGISTRY_POLICY_SCOPE, BLOB_MOUNTING];

/// The account setting called `name`.
pub fn account_setting(name: &str) -> Option<AccountSetting> {
    ACCOUNT_SETTINGS.iter().copied().find(|s| s.name == name)
}

impl RegistrySettings {
    /// The value of an account setting: as put, else its default.
    pub fn account_value(&self, setting: AccountSetting) -> String {
        self.account.get(setting.name).cloned().unwrap_or_else(|| setting.default.to_string())
    }

    /// Whether the registry policy scope is V1 (replication and pull-through actions only).
    pub fn policy_scope_v1(&self) -> bool {
        self.account_value(REGISTRY_POLICY_SCOPE) == "V1"
    }

    /// Whether cross-repository blob mounts are honoured.
    pub fn blob_mounting_enabled(&self) -> bool {
        self.account_value(BLOB_MOUNTING) == "ENABLED"
    }
}

/// The role ARN (without a path) of an STS assumed-role session ARN
/// (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION` is `arn:aws:iam::ACCOUNT:role/NAME`).
fn role_of_session(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("sts::")?;
    let (account, rest) = rest.split_once(':')?;
    let (role, _session) = rest.strip_prefix("assumed-role/")?.split_once('/')?;
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

/// What the mirror holds: the record, its store revision (0: never written) and the registry policy parsed for
/// evaluation (parsed once per change, not per request).
#[derive(Debug, Default)]
struct Mirror {
    settings: Arc<RegistrySettings>,
    revision: i64,
    policy: Option<NamedPolicy>,
}

/// The settings mirror.
#[derive(Debug, Default)]
pub(crate) struct SettingsCell(std::sync::RwLock<Mirror>);

impl SettingsCell {
    fn get(&self) -> (Arc<RegistrySettings>, i64) {
        let mirror = self.0.read().unwrap_or_else(|p| p.into_inner());
        (mirror.settings.clone(), mirror.revision)
    }

    fn set(&self, settings: RegistrySettings, revision: i64, account_id: &str) {
        let policy = settings.policy.as_deref().and_then(|text| parse_policy(text, account_id));
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Mirror { settings: Arc::new(settings), revision, policy };
    }

    /// The parsed registry policy.
    pub(crate) fn policy(&self) -> Option<NamedPolicy> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).policy.clone()
    }
}

/// The registry policy parsed for evaluation; a stored policy that no longer parses (it was validated when put) is
/// logged and treated as absent.
fn parse_policy(text: &str, account_id: &str) -> Option<NamedPolicy> {
    match PolicyDocument::parse(text, PolicyKind::Resource) {
        Ok(document) => Some(NamedPolicy {
            name: Arc::from(format!("registry policy of {account_id}")),
            document: Arc::new(document),
        }),
        Err(e) => {
            tracing::error!(error = %e, "the stored registry policy does not parse; ignored");
            None
        }
    }
}

impl Registry {
    /// Loads the settings record from the store (at open, and after a lost race).
    pub(crate) async fn load_settings(&self) -> Result<()> {
        match self.store.get(SETTINGS_KEY).await? {
            Some(kv) => {
                let settings: RegistrySettings = serde_json::from_slice(&kv.value)
                    .map_err(|source| RegistryError::Record { key: kv.key.clone(), source })?;
                self.settings.set(settings, kv.mod_revision, &self.config.account_id);
            }
            None => self.settings.set(RegistrySettings::default(), 0, &self.config.account_id),
        }
        Ok(())
    }

    /// The registry-wide settings (a shared snapshot: cheap on every request).
    pub fn settings(&self) -> Arc<RegistrySettings> {
        self.settings.get().0
    }

    /// Changes the settings with `change` (which may refuse with an error, or answer a value), compare-and-swap
    /// on the record's revision; the answer of the `change` that was stored.
    pub(crate) async fn update_settings<T, E>(
        &self,
        mut change: impl FnMut(&mut RegistrySettings) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<RegistryError>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let (current, revision) = self.settings.get();
            let mut settings = RegistrySettings::clone(&current);
            let answer = change(&mut settings)?;
            let value = serde_json::to_vec(&settings)
                .map_err(|source| RegistryError::Record { key: SETTINGS_KEY.to_string(), source })?;
            let txn = Txn::new().expect(SETTINGS_KEY.to_string(), revision).put(SETTINGS_KEY.to_string(), value);
            match self.store.txn(txn).await.map_err(RegistryError::from)? {
                TxnOutcome::Committed { revision } => {
                    self.settings.set(settings, revision, &self.config.account_id);
                    return Ok(answer);
                }
                TxnOutcome::Conflict { .. } => self.load_settings().await?,
            }
        }
        Err(RegistryError::Contention { what: "the registry settings".to_string() }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::ecr::{ScanningRepositoryFilter, ScanningRepositoryFilterType};

    fn rule(frequency: ScanFrequency, filters: &[&str]) -> RegistryScanningRule {
        RegistryScanningRule {
            scan_frequency: frequency,
            repository_filters: filters
                .iter()
                .map(|f| ScanningRepositoryFilter {
                    filter: f.to_string(),
                    filter_type: ScanningRepositoryFilterType::Wildcard,
                })
                .collect(),
        }
    }

    fn with(scan_type: ScanType, rules: Vec<RegistryScanningRule>) -> RegistrySettings {
        RegistrySettings {
            scanning: Some(RegistryScanningConfiguration { scan_type: Some(scan_type), rules: Some(rules) }),
            ..Default::default()
        }
    }

    #[test]
    fn the_default_configuration_is_basic_without_rules() {
        let config = RegistrySettings::default().scanning_configuration();
        assert_eq!(config.scan_type, Some(ScanType::Basic));
        assert_eq!(config.rules, Some(Vec::new()));
        assert!(!RegistrySettings::default().scans_on_push("app"));
    }

    #[test]
    fn rules_match_repositories_by_wildcard() {
        let s = with(ScanType::Basic, vec![rule(ScanFrequency::ScanOnPush, &["prod-*", "team/*"])]);
        assert!(s.scans_on_push("prod-web"));
        assert!(s.scans_on_push("team/app"));
        assert!(!s.scans_on_push("dev-web"));
        assert_eq!(s.scanning_rule_for("team/app").map(|(_, f)| f), Some(vec!["team/*".to_string()]));
        assert!(!s.scans_continuously("prod-web"), "BASIC never scans continuously");
    }

    #[test]
    fn enhanced_continuous_rules_also_scan_on_push() {
        let s = with(
            ScanType::Enhanced,
            vec![rule(ScanFrequency::ContinuousScan, &["*"]), rule(ScanFrequency::ScanOnPush, &["x"])],
        );
        assert!(s.scans_on_push("anything"));
        assert!(s.scans_continuously("anything"));
        let basic = with(ScanType::Basic, vec![rule(ScanFrequency::ContinuousScan, &["*"])]);
        assert!(!basic.scans_on_push("anything"));
        assert!(s.has_continuous_rules());
        assert!(!basic.has_continuous_rules());
        assert!(!with(ScanType::Enhanced, vec![rule(ScanFrequency::ScanOnPush, &["*"])]).has_continuous_rules());
    }

    #[test]
    fn exclusions_cover_a_role_and_its_sessions() {
        let mut s = RegistrySettings::default();
        s.pull_exclusions.insert("arn:aws:iam::123456789012:role/ci".into(), 1.0);
        assert!(s.pull_excluded("arn:aws:iam::123456789012:role/ci"));
        assert!(s.pull_excluded("arn:aws:sts::123456789012:assumed-role/ci/build-7"));
        assert!(!s.pull_excluded("arn:aws:sts::123456789012:assumed-role/other/build-7"));
        assert!(!s.pull_excluded("arn:aws:iam::123456789012:user/ci"));
        assert_eq!(role_of_session("arn:aws:iam::1:role/x"), None);
    }

    #[test]
    fn account_settings_have_defaults() {
        let mut s = RegistrySettings::default();
        assert_eq!(s.account_value(REGISTRY_POLICY_SCOPE), "V2");
        assert!(!s.policy_scope_v1());
        assert!(s.blob_mounting_enabled());
        s.account.insert("REGISTRY_POLICY_SCOPE".into(), "V1".into());
        s.account.insert("BLOB_MOUNTING".into(), "DISABLED".into());
        assert!(s.policy_scope_v1());
        assert!(!s.blob_mounting_enabled());
        assert_eq!(account_setting("BASIC_SCAN_TYPE_VERSION"), Some(BASIC_SCAN_TYPE_VERSION));
        assert_eq!(account_setting("NOPE"), None);
    }
}

//! Repository creation templates: settings a repository gets when ECR creates it for you (a push to a missing
//! repository, a pull-through cache pull, replication).
//!
//! A template is the model's `RepositoryCreationTemplate`, stored as JSON under `/ecr/template/<prefix>` and
//! mirrored in memory. A repository name is matched by the longest template prefix it starts with (`prefix/`),
//! `ROOT` matching every name that no other template does.

use crate::Registry;
use crate::error::{RegistryError, Result};
use crate::meta::records::RepositoryRecord;
use berth_model::ecr::{EncryptionConfiguration, ImageTagMutability, RepositoryCreationTemplate};
use berth_store::{Txn, TxnOutcome};
use std::collections::BTreeMap;

pub use berth_model::ecr::RCTAppliedFor as AppliedFor;

/// Where templates live in the store.
const TEMPLATE_PREFIX: &str = "/ecr/template/";

/// The prefix that matches every repository.
pub(crate) const ROOT: &str = "ROOT";

fn key(prefix: &str) -> String {
    format!("{TEMPLATE_PREFIX}{prefix}")
}

/// Whether a template `prefix` covers repository `name`.
pub(crate) fn covers(prefix: &str, name: &str) -> bool {
    prefix == ROOT
        || name.strip_prefix(prefix.trim_end_matches('/')).is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

/// The templates, mirrored in memory.
#[derive(Debug, Default)]
pub(crate) struct Templates(std::sync::RwLock<BTreeMap<String, RepositoryCreationTemplate>>);

impl Templates {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, RepositoryCreationTemplate>> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, RepositoryCreationTemplate>> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Every template.
    pub(crate) fn all(&self) -> Vec<RepositoryCreationTemplate> {
        self.read().values().cloned().collect()
    }

    /// The template with this prefix.
    pub(crate) fn get(&self, prefix: &str) -> Option<RepositoryCreationTemplate> {
        self.read().get(prefix).cloned()
    }

    /// The template for a new repository `name` created for `purpose`: the longest covering prefix among the
    /// templates applied for it, `ROOT` last.
    pub(crate) fn matching(&self, name: &str, purpose: AppliedFor) -> Option<RepositoryCreationTemplate> {
        let templates = self.read();
        templates
            .iter()
            .filter(|(prefix, t)| covers(prefix, name) && t.applied_for.as_ref().is_some_and(|a| a.contains(&purpose)))
            .max_by_key(|(prefix, _)| if prefix.as_str() == ROOT { 0 } else { prefix.len() + 1 })
            .map(|(_, t)| t.clone())
    }
}

impl Registry {
    /// Loads the templates from the store (at open).
    pub(crate) async fn load_templates(&self) -> Result<()> {
        let range = self.store.range(TEMPLATE_PREFIX).await?;
        let mut map = BTreeMap::new();
        for kv in range.kvs {
            let record: RepositoryCreationTemplate = serde_json::from_slice(&kv.value)
                .map_err(|source| RegistryError::Record { key: kv.key.clone(), source })?;
            if let Some(prefix) = record.prefix.clone() {
                map.insert(prefix, record);
            }
        }
        *self.templates.write() = map;
        Ok(())
    }

    /// The templates mirror.
    pub(crate) fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Stores a template under `prefix`; `expect_new` makes it a create (`false` if the prefix is taken).
    pub(crate) async fn put_template(
        &self,
        prefix: &str,
        template: &RepositoryCreationTemplate,
        expect_new: bool,
    ) -> Result<bool> {
        let key = key(prefix);
        let value =
            serde_json::to_vec(template).map_err(|source| RegistryError::Record { key: key.clone(), source })?;
        let mut txn = Txn::new();
        if expect_new {
            txn = txn.expect(key.clone(), 0);
        }
        match self.store.txn(txn.put(key, value)).await? {
            TxnOutcome::Committed { .. } => {
                self.templates.write().insert(prefix.to_string(), template.clone());
                Ok(true)
            }
            TxnOutcome::Conflict { .. } => Ok(false),
        }
    }

    /// Deletes a template; the deleted one, or `None`.
    pub(crate) async fn delete_template(&self, prefix: &str) -> Result<Option<RepositoryCreationTemplate>> {
        let Some(template) = self.templates.get(prefix) else { return Ok(None) };
        self.store.txn(Txn::new().delete(key(prefix))).await?;
        self.templates.write().remove(prefix);
        Ok(Some(template))
    }

    /// Creates repository `name` for a `/v2/` push when it does not exist and a CREATE_ON_PUSH template matches
    /// (the pusher needs `ecr:CreateRepository`). Without a template nothing happens, and the push answers
    /// NAME_UNKNOWN as ECR's does.
    pub(crate) async fn create_on_push(&self, name: &str, access_key: &str) -> Result<()> {
        if self.index.read().repo(name).is_some() {
            return Ok(());
        }
        let Some(record) = self.templated_repository(name, AppliedFor::CreateOnPush) else { return Ok(()) };
        self.check_access(access_key, "ecr:CreateRepository", Some(name))?;
        match self.create_repository(record).await {
            Ok(_) => {
                tracing::info!(repository = name, "created on push from a repository creation template");
                Ok(())
            }
            Err(RegistryError::RepositoryAlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The record of a new repository `name` created for `purpose` from its matching template, or `None` when no
    /// template applies.
    pub(crate) fn templated_repository(&self, name: &str, purpose: AppliedFor) -> Option<RepositoryRecord> {
        let t = self.templates.matching(name, purpose)?;
        Some(RepositoryRecord {
            name: name.to_string(),
            created_at: berth_model::clock::to_millis(self.now()),
            image_tag_mutability: t.image_tag_mutability.unwrap_or(ImageTagMutability::Mutable),
            exclusion_filters: t.image_tag_mutability_exclusion_filters.clone().unwrap_or_default(),
            scan_on_push: false,
            encryption: t
                .encryption_configuration
                .as_ref()
                .map(|e| EncryptionConfiguration { encryption_type: e.encryption_type, kms_key: e.kms_key.clone() }),
            tags: t.resource_tags.clone().unwrap_or_default(),
            lifecycle_policy: t.lifecycle_policy.clone().filter(|p| !p.is_empty()),
            lifecycle_evaluated_at: None,
            policy: t.repository_policy.clone().filter(|p| !p.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(prefix: &str, applied: &[AppliedFor]) -> RepositoryCreationTemplate {
        RepositoryCreationTemplate {
            prefix: Some(prefix.into()),
            applied_for: Some(applied.to_vec()),
            ..Default::default()
        }
    }

    #[test]
    fn the_longest_prefix_applied_for_the_purpose_wins() {
        let t = Templates::default();
        for x in [
            template("prod", &[AppliedFor::CreateOnPush]),
            template("prod/team", &[AppliedFor::PullThroughCache]),
            template(ROOT, &[AppliedFor::CreateOnPush, AppliedFor::PullThroughCache]),
        ] {
            t.write().insert(x.prefix.clone().unwrap_or_default(), x);
        }
        let prefix = |name: &str, p: AppliedFor| t.matching(name, p).and_then(|x| x.prefix);
        assert_eq!(prefix("prod/team/app", AppliedFor::CreateOnPush).as_deref(), Some("prod"));
        assert_eq!(prefix("prod/team/app", AppliedFor::PullThroughCache).as_deref(), Some("prod/team"));
        assert_eq!(prefix("other", AppliedFor::CreateOnPush).as_deref(), Some(ROOT));
        assert_eq!(prefix("other", AppliedFor::Replication), None);
        assert!(covers("prod/", "prod/x"));
        assert!(!covers("prod", "prod"));
        assert!(!covers("prod", "production/x"));
    }
}

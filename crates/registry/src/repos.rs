//! Repository records: create, update (compare-and-swap), delete with everything in them.

use crate::Registry;
use crate::error::{RegistryError, Result};
use crate::meta::Key;
use crate::meta::records::RepositoryRecord;
use berth_store::{Txn, TxnOutcome};
use std::sync::Arc;

const MAX_CAS_ATTEMPTS: usize = 16;

fn encode(record: &RepositoryRecord) -> Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(|source| RegistryError::Record { key: record.name.clone(), source })
}

impl Registry {
    /// The record of an existing repository.
    pub fn repository(&self, name: &str) -> Result<Arc<RepositoryRecord>> {
        let state = self.index.read();
        let entry = state.existing_repo(name)?;
        entry
            .record
            .as_ref()
            .map(|(rec, _)| rec.clone())
            .ok_or_else(|| RegistryError::RepositoryNotFound { name: name.to_string() })
    }

    /// Creates a repository.
    pub async fn create_repository(&self, record: RepositoryRecord) -> Result<RepositoryRecord> {
        if let Some(reason) = crate::names::repository_name_problem(&record.name) {
            return Err(RegistryError::InvalidName { reason });
        }
        let key = Key::Repo(record.name.clone()).render();
        match self.store.txn(Txn::new().expect(key.clone(), 0).put(key, encode(&record)?)).await? {
            TxnOutcome::Committed { revision } => {
                self.index.wait_for(revision).await;
                Ok(record)
            }
            TxnOutcome::Conflict { .. } => Err(RegistryError::RepositoryAlreadyExists { name: record.name }),
        }
    }

    /// Changes a repository's record with `change`, retried on concurrent writes.
    pub async fn update_repository(
        &self,
        name: &str,
        mut change: impl FnMut(&mut RepositoryRecord) -> Result<()>,
    ) -> Result<RepositoryRecord> {
        let key = Key::Repo(name.to_string()).render();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (current, revision) = self
                .index
                .read()
                .existing_repo(name)?
                .record
                .clone()
                .ok_or_else(|| RegistryError::RepositoryNotFound { name: name.to_string() })?;
            let mut next = (*current).clone();
            change(&mut next)?;
            match self.store.txn(Txn::new().expect(key.clone(), revision).put(key.clone(), encode(&next)?)).await? {
                TxnOutcome::Committed { revision } => {
                    self.index.wait_for(revision).await;
                    return Ok(next);
                }
                TxnOutcome::Conflict { actual_revision, .. } => self.index.wait_for(actual_revision).await,
            }
        }
        Err(RegistryError::Contention { what: format!("repository {name}") })
    }

    /// Deletes a repository; with `force`, its images too (else it must hold none).
    pub async fn delete_repository(&self, name: &str, force: bool) -> Result<RepositoryRecord> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (record, txn) = {
                let state = self.index.read();
                let entry = state.existing_repo(name)?;
                let (record, revision) =
                    entry.record.clone().ok_or_else(|| RegistryError::RepositoryNotFound { name: name.to_string() })?;
                if !force && !entry.images.is_empty() {
                    return Err(RegistryError::RepositoryNotEmpty { name: name.to_string() });
                }
                let n = name.to_string();
                let repo_key = Key::Repo(n.clone()).render();
                let mut txn = Txn::new().expect(repo_key.clone(), revision).delete(repo_key);
                let mut plain = std::collections::BTreeSet::new();
                for (digest, image) in &entry.images {
                    let key = Key::Image(n.clone(), digest.clone()).render();
                    txn = txn.expect(key.clone(), image.revision).delete(key);
                    plain.insert(Key::Pull(n.clone(), digest.clone()).render());
                }
                for (tag, (_, rev)) in &entry.tags {
                    let key = Key::Tag(n.clone(), tag.clone()).render();
                    txn = txn.expect(key.clone(), *rev).delete(key);
                }
                for digest in entry.links.keys() {
                    plain.insert(Key::Link(n.clone(), digest.clone()).render());
                }
                for digest in entry.scans.keys().chain(entry.pulls.keys()) {
                    plain.insert(Key::Scan(n.clone(), digest.clone()).render());
                    plain.insert(Key::Pull(n.clone(), digest.clone()).render());
                }
                plain.insert(Key::Preview(n).render());
                for key in plain {
                    txn = txn.delete(key);
                }
                (record, txn)
            };
            match self.store.txn(txn).await? {
                TxnOutcome::Committed { revision } => {
                    self.index.wait_for(revision).await;
                    return Ok((*record).clone());
                }
                TxnOutcome::Conflict { actual_revision, .. } => self.index.wait_for(actual_revision).await,
            }
        }
        Err(RegistryError::Contention { what: format!("deleting repository {name}") })
    }
}

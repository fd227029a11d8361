//! JSON records in the store, read whole and changed with compare-and-swap (the per-image signing and
//! replication states).

use crate::Registry;
use crate::error::{RegistryError, Result};
use berth_store::{Txn, TxnOutcome};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How often a change is tried against concurrent writers of the same record.
const MAX_ATTEMPTS: usize = 16;

impl Registry {
    /// The record at `key`, or its default when none is stored.
    pub(crate) async fn json_record<T: DeserializeOwned + Default>(&self, key: &str) -> Result<T> {
        match self.store.get(key).await? {
            Some(kv) => {
                serde_json::from_slice(&kv.value).map_err(|source| RegistryError::Record { key: key.into(), source })
            }
            None => Ok(T::default()),
        }
    }

    /// Applies `change` to the record at `key` (its default when none is stored) and writes it back unless another
    /// writer changed it meanwhile, then tries again; `what` names the record when it stays contended.
    pub(crate) async fn update_json_record<T: DeserializeOwned + Serialize + Default>(
        &self,
        key: &str,
        what: impl FnOnce() -> String,
        mut change: impl FnMut(&mut T),
    ) -> Result<()> {
        let record_error = |source| RegistryError::Record { key: key.to_string(), source };
        for _ in 0..MAX_ATTEMPTS {
            let (mut record, revision) = match self.store.get(key).await? {
                Some(kv) => (serde_json::from_slice::<T>(&kv.value).map_err(record_error)?, kv.mod_revision),
                None => (T::default(), 0),
            };
            change(&mut record);
            let value = serde_json::to_vec(&record).map_err(record_error)?;
            match self.store.txn(Txn::new().expect(key.to_string(), revision).put(key.to_string(), value)).await? {
                TxnOutcome::Committed { .. } => return Ok(()),
                TxnOutcome::Conflict { .. } => continue,
            }
        }
        Err(RegistryError::Contention { what: what() })
    }
}

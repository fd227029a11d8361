//! Log group, stream and metric filter records in `berth_store`, under `/logs/`.
//!
//! * `/logs/group/<group>`: [`GroupRecord`]
//! * `/logs/stream/<group>/<stream>`: [`StreamRecord`]
//! * `/logs/metric-filter/<group>/<filter>`: the wire `MetricFilter`
//!
//! Names are percent-encoded in keys ([`crate::names::key_part`]). A stream or filter is created only while its
//! group's record is unchanged (compare-and-swap on the group's key), so it cannot outlive a concurrent delete.

use crate::LogsError;
use crate::names::key_part;
use berth_model::logs::MetricFilter;
use berth_store::{KeyValue, SharedStore, Txn, TxnOutcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A log group's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    /// The name.
    pub name: String,
    /// Created at (epoch milliseconds).
    pub creation_time: i64,
    /// Retention, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<i32>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The event store directory of this incarnation of the group.
    pub dir: String,
    /// `logGroupClass` as created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// `kmsKeyId` as given (Berth does not encrypt with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// `deletionProtectionEnabled`.
    #[serde(default)]
    pub deletion_protection: bool,
}

impl GroupRecord {
    /// The earliest event timestamp still retained at `now_millis` (None: kept forever).
    pub fn cutoff(&self, now_millis: i64) -> Option<i64> {
        self.retention_in_days.map(|days| now_millis - i64::from(days) * 86_400_000)
    }
}

/// A log stream's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRecord {
    /// The name.
    pub name: String,
    /// Created at (epoch milliseconds).
    pub creation_time: i64,
}

fn group_key(group: &str) -> String {
    format!("/logs/group/{}", key_part(group))
}

fn streams_prefix(group: &str) -> String {
    format!("/logs/stream/{}/", key_part(group))
}

fn filters_prefix(group: &str) -> String {
    format!("/logs/metric-filter/{}/", key_part(group))
}

fn decode<T: serde::de::DeserializeOwned>(kv: &KeyValue) -> Result<T, LogsError> {
    serde_json::from_slice(&kv.value)
        .map_err(|e| LogsError::internal(&format!("the record {} is corrupt: {e}", kv.key)))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The `/logs/` records.
#[derive(Clone)]
pub struct Meta {
    store: SharedStore,
}

fn group_missing() -> LogsError {
    LogsError::not_found("The specified log group does not exist.")
}

impl Meta {
    /// Records in `store`.
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }

    /// A group and its record's revision.
    pub async fn group(&self, name: &str) -> Result<(GroupRecord, i64), LogsError> {
        let kv = self.store.get(&group_key(name)).await?.ok_or_else(group_missing)?;
        Ok((decode(&kv)?, kv.mod_revision))
    }

    /// Every group, by name.
    pub async fn groups(&self) -> Result<Vec<GroupRecord>, LogsError> {
        let range = self.store.range("/logs/group/").await?;
        let mut out: Vec<GroupRecord> = range.kvs.iter().map(decode).collect::<Result<_, _>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates a group; `ResourceAlreadyExistsException` if it exists.
    pub async fn create_group(&self, record: &GroupRecord) -> Result<(), LogsError> {
        let key = group_key(&record.name);
        match self.store.txn(Txn::new().expect(&key, 0).put(&key, encode(record))).await? {
            TxnOutcome::Committed { .. } => Ok(()),
            TxnOutcome::Conflict { .. } => Err(LogsError::already_exists("The specified log group already exists")),
        }
    }

    /// Replaces a group's record if it is still at `revision`; false on a conflict.
    pub async fn update_group(&self, record: &GroupRecord, revision: i64) -> Result<bool, LogsError> {
        let key = group_key(&record.name);
        let outcome = self.store.txn(Txn::new().expect(&key, revision).put(&key, encode(record))).await?;
        Ok(matches!(outcome, TxnOutcome::Committed { .. }))
    }

    /// Deletes a group with its streams and metric filters; the deleted record.
    pub async fn delete_group(&self, name: &str) -> Result<GroupRecord, LogsError> {
        loop {
            let (record, revision) = self.group(name).await?;
            let key = group_key(name);
            let mut txn = Txn::new().expect(&key, revision).delete(&key);
            for prefix in [streams_prefix(name), filters_prefix(name)] {
                for kv in self.store.range(&prefix).await?.kvs {
                    txn = txn.delete(kv.key);
                }
            }
            if let TxnOutcome::Committed { .. } = self.store.txn(txn).await? {
                return Ok(record);
            }
        }
    }

    /// A stream of a group.
    pub async fn stream(&self, group: &str, stream: &str) -> Result<StreamRecord, LogsError> {
        let key = format!("{}{}", streams_prefix(group), key_part(stream));
        let kv = self
            .store
            .get(&key)
            .await?
            .ok_or_else(|| LogsError::not_found("The specified log stream does not exist."))?;
        decode(&kv)
    }

    /// Every stream of a group, by name.
    pub async fn streams(&self, group: &str) -> Result<Vec<StreamRecord>, LogsError> {
        let range = self.store.range(&streams_prefix(group)).await?;
        let mut out: Vec<StreamRecord> = range.kvs.iter().map(decode).collect::<Result<_, _>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates a stream in an existing group.
    pub async fn create_stream(&self, group: &str, record: &StreamRecord) -> Result<(), LogsError> {
        let (_, revision) = self.group(group).await?;
        let key = format!("{}{}", streams_prefix(group), key_part(&record.name));
        let txn = Txn::new().expect(group_key(group), revision).expect(&key, 0).put(&key, encode(record));
        match self.store.txn(txn).await? {
            TxnOutcome::Committed { .. } => Ok(()),
            TxnOutcome::Conflict { key: conflict, .. } if conflict == key => {
                Err(LogsError::already_exists("The specified log stream already exists"))
            }
            TxnOutcome::Conflict { .. } => Err(group_missing()),
        }
    }

    /// Deletes a stream.
    pub async fn delete_stream(&self, group: &str, stream: &str) -> Result<(), LogsError> {
        self.group(group).await?;
        self.stream(group, stream).await?;
        let key = format!("{}{}", streams_prefix(group), key_part(stream));
        self.store.txn(Txn::new().delete(key)).await?;
        Ok(())
    }

    /// Every metric filter of a group, or of every group, by group then name.
    pub async fn metric_filters(&self, group: Option<&str>) -> Result<Vec<MetricFilter>, LogsError> {
        let prefix = group.map_or_else(|| "/logs/metric-filter/".to_string(), filters_prefix);
        let range = self.store.range(&prefix).await?;
        let mut out: Vec<MetricFilter> = range.kvs.iter().map(decode).collect::<Result<_, _>>()?;
        out.sort_by(|a, b| (&a.log_group_name, &a.filter_name).cmp(&(&b.log_group_name, &b.filter_name)));
        Ok(out)
    }

    /// Creates or replaces a metric filter of an existing group.
    pub async fn put_metric_filter(&self, group: &str, filter: &MetricFilter) -> Result<(), LogsError> {
        let (_, revision) = self.group(group).await?;
        let name = filter.filter_name.as_deref().unwrap_or_default();
        let key = format!("{}{}", filters_prefix(group), key_part(name));
        let txn = Txn::new().expect(group_key(group), revision).put(key, encode(filter));
        match self.store.txn(txn).await? {
            TxnOutcome::Committed { .. } => Ok(()),
            TxnOutcome::Conflict { .. } => Err(group_missing()),
        }
    }

    /// Deletes a metric filter.
    pub async fn delete_metric_filter(&self, group: &str, name: &str) -> Result<(), LogsError> {
        self.group(group).await?;
        let key = format!("{}{}", filters_prefix(group), key_part(name));
        if self.store.get(&key).await?.is_none() {
            return Err(LogsError::not_found("The specified resource does not exist."));
        }
        self.store.txn(Txn::new().delete(key)).await?;
        Ok(())
    }
}

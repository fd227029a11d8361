//! Alarm records in `berth_store`, under `/metrics/alarm/<name>` (the name percent-encoded): the alarm as
//! DescribeAlarms shows it, its tags, and its history (the newest [`HISTORY_KEPT`] items).

use crate::MetricsError;
use berth_model::cloudwatch::{AlarmHistoryItem, MetricAlarm};
use berth_store::{KeyValue, SharedStore, Txn, TxnOutcome};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// History items kept per alarm (CloudWatch keeps two weeks of them).
pub const HISTORY_KEPT: usize = 100;

/// The key prefix of alarm records.
pub const PREFIX: &str = "/metrics/alarm/";

const KEY_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// An alarm's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmRecord {
    /// The alarm, in its wire shape.
    pub alarm: MetricAlarm,
    /// Its tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Its history, oldest first.
    #[serde(default)]
    pub history: Vec<AlarmHistoryItem>,
}

impl AlarmRecord {
    /// Appends a history item, dropping the oldest past [`HISTORY_KEPT`].
    pub fn record(&mut self, item: AlarmHistoryItem) {
        self.history.push(item);
        if self.history.len() > HISTORY_KEPT {
            let extra = self.history.len() - HISTORY_KEPT;
            self.history.drain(..extra);
        }
    }

    /// The alarm's name.
    pub fn name(&self) -> &str {
        self.alarm.alarm_name.as_deref().unwrap_or_default()
    }
}

/// The store key of an alarm.
pub fn key(name: &str) -> String {
    format!("{PREFIX}{}", utf8_percent_encode(name, KEY_SET))
}

fn decode(kv: &KeyValue) -> Result<AlarmRecord, MetricsError> {
    serde_json::from_slice(&kv.value)
        .map_err(|e| MetricsError::internal(&format!("the record {} is corrupt: {e}", kv.key)))
}

/// Alarm records on a store.
#[derive(Clone)]
pub struct Alarms {
    store: SharedStore,
}

impl Alarms {
    /// Records on `store`.
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }

    /// Every alarm, by name.
    pub async fn list(&self) -> Result<Vec<AlarmRecord>, MetricsError> {
        let range = self.store.range(PREFIX).await?;
        let mut out: Vec<AlarmRecord> = range.kvs.iter().map(decode).collect::<Result<_, _>>()?;
        out.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(out)
    }

    /// One alarm.
    pub async fn get(&self, name: &str) -> Result<Option<AlarmRecord>, MetricsError> {
        self.store.get(&key(name)).await?.as_ref().map(decode).transpose()
    }

    /// Reads an alarm, lets `change` decide its new record (`None`: delete it; an error: write nothing), and writes
    /// it if nobody wrote the alarm in between, retrying otherwise. What `change` returned last.
    pub async fn update<T>(
        &self,
        name: &str,
        mut change: impl FnMut(Option<AlarmRecord>) -> Result<(Option<AlarmRecord>, T), MetricsError>,
    ) -> Result<T, MetricsError> {
        let key = key(name);
        for _ in 0..16 {
            let current = self.store.get(&key).await?;
            let revision = current.as_ref().map_or(0, |kv| kv.mod_revision);
            let record = current.as_ref().map(decode).transpose()?;
            let existed = record.is_some();
            let (next, out) = change(record)?;
            let txn = Txn::new().expect(key.clone(), revision);
            let txn = match next {
                Some(record) => {
                    let value = serde_json::to_vec(&record).map_err(|e| MetricsError::internal(&e))?;
                    txn.put(key.clone(), value)
                }
                None if existed => txn.delete(key.clone()),
                None => return Ok(out),
            };
            match self.store.txn(txn).await? {
                TxnOutcome::Committed { .. } => return Ok(out),
                TxnOutcome::Conflict { .. } => continue,
            }
        }
        Err(MetricsError::internal(&format!("too many concurrent changes to the alarm {name}")))
    }

    /// How many alarms exist.
    pub async fn count(&self) -> Result<usize, MetricsError> {
        Ok(self.store.range(PREFIX).await?.kvs.len())
    }
}

//! How records are written to and read from the store: JSON with a schema version per record kind.
//!
//! Every stored value is a JSON object whose `schema` member names the version of its kind's shape
//! ([`StoredRecord::SCHEMA`]); values written before versions existed have none and are version 1. A value of an
//! older version is upgraded as it is read ([`StoredRecord::upgrade`], one step at a time), so an installation can
//! move forward without a migration pass; a value of a newer version (written by a newer Berth after a downgrade) is
//! refused, and the cache quarantines it rather than misreading it.
//!
//! An upgrade is a pure transformation of JSON values (`records::upgrade` has the helpers), so it is tested on its
//! own: clusters, tasks, container instances and services moved from schema 1 (the wire shape under one member) to
//! schema 2 (Berth's own fields), each with its `upgrade_from_v1` next to its record.
//!
//! The fixtures under `crates/control/tests/fixtures/records/v<N>/` are values of every kind as schema N wrote them;
//! `tests/stored_records.rs` checks that each kind's current fixture decodes and re-encodes byte for byte, and that
//! each older one upgrades to exactly the current one, so a change of shape (a regenerated botocore model, a renamed
//! field) fails a test instead of changing what is on disk unnoticed.

use crate::express::ExpressServiceRecord;
use crate::records::{
    AccountSettingRecord, CapacityProviderRecord, ClientTokenRecord, ClusterRecord, FamilyRecord, InstanceRecord,
    ServiceRecord, TaskDefinitionRecord, TaskRecord,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The member of a stored object that carries its schema version.
pub const SCHEMA_MEMBER: &str = "schema";

/// A kind of record the control plane stores.
pub trait StoredRecord: Serialize + DeserializeOwned {
    /// The kind's name, for errors and logs.
    const KIND: &'static str;
    /// The version of the shape this build writes.
    const SCHEMA: u32;

    /// Upgrades a stored value from version `from` to `from + 1`. A kind that changes shape raises its
    /// [`StoredRecord::SCHEMA`] and says here how; by default there is no upgrade.
    fn upgrade(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
        let _ = value;
        Err(format!("{} records have no upgrade from schema version {from}", Self::KIND))
    }
}

macro_rules! stored {
    ($($record:ty => $kind:literal, $schema:literal $(, upgrade $upgrade:path)?;)*) => {
        $(impl StoredRecord for $record {
            const KIND: &'static str = $kind;
            const SCHEMA: u32 = $schema;
            $(fn upgrade(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
                $upgrade(value, from)
            })?
        })*
    };
}

/// Cluster schema 1 wrapped the wire `Cluster`; schema 2 is Berth's own shape (`records::ClusterRecord`).
fn upgrade_cluster(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
    match from {
        1 => crate::records::cluster::upgrade_from_v1(value),
        _ => Err(format!("cluster records have no upgrade from schema version {from}")),
    }
}

/// Task schema 1 wrapped the wire `Task`; schema 2 is Berth's own shape (`records::TaskRecord`).
fn upgrade_task(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
    match from {
        1 => crate::records::task::upgrade_from_v1(value),
        _ => Err(format!("task records have no upgrade from schema version {from}")),
    }
}

/// Container instance schema 1 wrapped the wire `ContainerInstance`; schema 2 is Berth's own shape
/// (`records::InstanceRecord`).
fn upgrade_instance(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
    match from {
        1 => crate::records::instance::upgrade_from_v1(value),
        _ => Err(format!("container instance records have no upgrade from schema version {from}")),
    }
}

/// Service schema 1 wrapped the wire `Service`; schema 2 is Berth's own shape (`records::ServiceRecord`).
fn upgrade_service(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
    match from {
        1 => crate::records::service::upgrade_from_v1(value),
        _ => Err(format!("service records have no upgrade from schema version {from}")),
    }
}

stored! {
    ClusterRecord => "cluster", 2, upgrade upgrade_cluster;
    FamilyRecord => "task definition family", 1;
    TaskDefinitionRecord => "task definition", 1;
    TaskRecord => "task", 2, upgrade upgrade_task;
    InstanceRecord => "container instance", 2, upgrade upgrade_instance;
    ServiceRecord => "service", 2, upgrade upgrade_service;
    ClientTokenRecord => "client token", 1;
    AccountSettingRecord => "account setting", 1;
    CapacityProviderRecord => "capacity provider", 1;
    ExpressServiceRecord => "express service", 1;
    crate::daemons::records::DaemonFamilyRecord => "daemon task definition family", 1;
    crate::daemons::records::DaemonTaskDefinitionRecord => "daemon task definition", 1;
    crate::daemons::records::DaemonRecord => "daemon", 1;
}

/// Serialises a record with its kind's schema version.
pub fn encode<T: StoredRecord>(record: &T) -> serde_json::Result<Vec<u8>> {
    let body = serde_json::to_vec(record)?;
    // Records are JSON objects: put the version first, ahead of the record's own members.
    let Some(rest) = body.strip_prefix(b"{") else {
        return Err(serde::ser::Error::custom(format!("a {} record must serialise as a JSON object", T::KIND)));
    };
    let mut out = format!("{{\"{SCHEMA_MEMBER}\":{}", T::SCHEMA).into_bytes();
    if rest != b"}" {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    Ok(out)
}

/// The schema version of a stored value (1 when it has none).
fn version_of(bytes: &[u8]) -> Result<u32, String> {
    #[derive(serde::Deserialize)]
    struct Header {
        #[serde(default = "first")]
        schema: u32,
    }
    fn first() -> u32 {
        1
    }
    serde_json::from_slice::<Header>(bytes).map(|h| h.schema).map_err(|e| e.to_string())
}

/// Reads a stored value as a record of kind `T`, upgrading older versions; a newer version is an error.
pub fn decode<T: StoredRecord>(bytes: &[u8]) -> Result<T, String> {
    let version = version_of(bytes)?;
    if version == T::SCHEMA {
        // Unknown members (the version itself among them) are ignored by the records' decoders.
        return serde_json::from_slice(bytes).map_err(|e| e.to_string());
    }
    if version > T::SCHEMA {
        return Err(format!(
            "the {} record has schema version {version}, newer than this Berth reads ({}): it was written by a newer \
             Berth",
            T::KIND,
            T::SCHEMA
        ));
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    for from in version..T::SCHEMA {
        value = T::upgrade(value, from)?;
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_goes_first_and_is_read_back() {
        let record = FamilyRecord { family: "web".into(), latest_revision: 3 };
        let bytes = encode(&record).unwrap();
        assert!(bytes.starts_with(b"{\"schema\":1,\"family\":\"web\""), "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(decode::<FamilyRecord>(&bytes).unwrap(), record);
    }

    #[test]
    fn a_value_without_a_version_is_version_one() {
        let old = br#"{"family":"web","latestRevision":7}"#;
        assert_eq!(decode::<FamilyRecord>(old).unwrap().latest_revision, 7);
    }

    #[test]
    fn a_newer_version_is_refused_with_the_reason() {
        let newer = br#"{"schema":2,"family":"web","latestRevision":7}"#;
        let error = decode::<FamilyRecord>(newer).unwrap_err();
        assert!(error.contains("schema version 2") && error.contains("newer Berth"), "{error}");
    }

    #[test]
    fn a_value_that_is_not_an_object_is_an_error_not_a_panic() {
        assert!(decode::<FamilyRecord>(b"[1,2]").is_err());
        assert!(decode::<FamilyRecord>(b"").is_err());
    }

    /// A kind at version 3 whose version 1 named its counter differently and version 2 had no default.
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Counter {
        count: u32,
        label: String,
    }

    impl StoredRecord for Counter {
        const KIND: &'static str = "counter";
        const SCHEMA: u32 = 3;
        fn upgrade(mut value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
            let object = value.as_object_mut().ok_or("not an object")?;
            match from {
                1 => {
                    let n = object.remove("n").ok_or("no n")?;
                    object.insert("count".into(), n);
                }
                2 => {
                    object.entry("label").or_insert_with(|| "unnamed".into());
                }
                _ => return Err(format!("no upgrade from {from}")),
            }
            Ok(value)
        }
    }

    #[test]
    fn older_versions_are_upgraded_step_by_step() {
        assert_eq!(decode::<Counter>(br#"{"n":4}"#).unwrap(), Counter { count: 4, label: "unnamed".into() });
        assert_eq!(
            decode::<Counter>(br#"{"schema":2,"count":5}"#).unwrap(),
            Counter { count: 5, label: "unnamed".into() }
        );
        let current = encode(&Counter { count: 6, label: "x".into() }).unwrap();
        assert_eq!(decode::<Counter>(&current).unwrap().count, 6);
    }
}

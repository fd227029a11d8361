//! How records are written to and read from the store: JSON with a schema version per record kind.
//!
//! Every stored value is a JSON object whose `schema` member names the version of its kind's shape
//! ([`StoredRecord::SCHEMA`]); values written before versions existed have none and are version 1. A value of an
//! older version is upgraded as it is read ([`StoredRecord::upgrade`], one step at a time, from any older version:
//! a record is only rewritten when it changes, so a years-old one must still read), so an installation can move
//! forward without a migration pass; a value of a newer version (written by a newer Berth after a downgrade) is
//! refused, and the cache quarantines it rather than misreading it.
//!
//! Several servers share one store during a rolling upgrade, so a server does not always write its own newest
//! version: [`encode`] writes the version [`crate::schema`] chose (the lowest any live server reads), and every kind
//! can encode one version back ([`StoredRecord::downgrade`], next to its upgrade). [`decode`] accepts what this
//! process reads ([`crate::schema::reads`]: its own [`StoredRecord::SCHEMA`], or less under the test knob
//! `--schema-ceiling`).
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
    /// The oldest version this build can write: [`StoredRecord::SCHEMA`], or the one before for a kind that
    /// raised its version in this release and can write it back ([`StoredRecord::downgrade`]).
    const OLDEST_WRITTEN: u32 = Self::SCHEMA;

    /// Upgrades a stored value from version `from` to `from + 1`. A kind that changes shape raises its
    /// [`StoredRecord::SCHEMA`] and says here how; by default there is no upgrade.
    fn upgrade(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
        let _ = value;
        Err(format!("{} records have no upgrade from schema version {from}", Self::KIND))
    }

    /// Rewrites a value of version `from` (this build's [`StoredRecord::SCHEMA`]) as version `from - 1`, for
    /// servers of the previous release sharing the store. A kind that raises its version in a release says here
    /// how (and so has an [`StoredRecord::OLDEST_WRITTEN`] one back); by default there is none.
    fn downgrade(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
        let _ = value;
        Err(format!("{} records have no downgrade from schema version {from}", Self::KIND))
    }
}

/// A record kind's versions in this build, as [`KINDS`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindVersions {
    /// The kind's name ([`StoredRecord::KIND`]).
    pub kind: &'static str,
    /// The newest version ([`StoredRecord::SCHEMA`]).
    pub schema: u32,
    /// The oldest version it can write ([`StoredRecord::OLDEST_WRITTEN`]).
    pub oldest_written: u32,
}

macro_rules! stored {
    ($($record:ty => $kind:literal, $schema:literal $(, upgrade $upgrade:path)? $(, downgrade $downgrade:path)?;)*) => {
        $(impl StoredRecord for $record {
            const KIND: &'static str = $kind;
            const SCHEMA: u32 = $schema;
            $(fn upgrade(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
                $upgrade(value, from)
            })?
            $(const OLDEST_WRITTEN: u32 = Self::SCHEMA - 1;
            fn downgrade(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
                $downgrade(value, from)
            })?
        })*
        /// Every record kind with the versions this build reads and writes (what a server advertises).
        pub const KINDS: &[KindVersions] = &[$(KindVersions {
            kind: $kind,
            schema: $schema,
            oldest_written: <$record as StoredRecord>::OLDEST_WRITTEN,
        }),*];
    };
}

/// Cluster schema 1 wrapped the wire `Cluster`; schema 2 is Berth's own shape (`records::ClusterRecord`).
fn upgrade_cluster(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
    match from {
        1 => crate::records::cluster::upgrade_from_v1(value),
        _ => Err(format!("cluster records have no upgrade from schema version {from}")),
    }
}

/// Task schema 1 wrapped the wire `Task`; schema 2 is Berth's own shape (`records::TaskRecord`); schema 3 no
/// longer stores `containerInstanceArn` beside `instanceId` (it is derived).
fn upgrade_task(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
    match from {
        1 => crate::records::task::upgrade_from_v1(value),
        2 => crate::records::task::upgrade_from_v2(value),
        _ => Err(format!("task records have no upgrade from schema version {from}")),
    }
}

/// Task schema 3 back to 2: `containerInstanceArn` written out again.
fn downgrade_task(value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
    match from {
        3 => crate::records::task::downgrade_to_v2(value),
        _ => Err(format!("task records have no downgrade from schema version {from}")),
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
    TaskRecord => "task", 3, upgrade upgrade_task, downgrade downgrade_task;
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

/// Serialises a record at the schema version this process writes for its kind now ([`crate::schema::writes`]:
/// its own newest, or one back while a server of the previous release shares the store).
pub fn encode<T: StoredRecord>(record: &T) -> serde_json::Result<Vec<u8>> {
    encode_at(record, crate::schema::writes::<T>())
}

/// Serialises a record at schema `version`: [`StoredRecord::SCHEMA`], or the one before it for a kind that can
/// write it ([`StoredRecord::OLDEST_WRITTEN`], through [`StoredRecord::downgrade`]); any other version is an error.
pub fn encode_at<T: StoredRecord>(record: &T, version: u32) -> serde_json::Result<Vec<u8>> {
    let body = if version == T::SCHEMA {
        serde_json::to_vec(record)?
    } else if T::SCHEMA.checked_sub(1) == Some(version) && T::OLDEST_WRITTEN == version {
        let value = T::downgrade(serde_json::to_value(record)?, T::SCHEMA).map_err(serde::ser::Error::custom)?;
        serde_json::to_vec(&value)?
    } else {
        return Err(serde::ser::Error::custom(format!(
            "a {} record cannot be written at schema version {version}: this Berth writes versions {} to {}",
            T::KIND,
            T::OLDEST_WRITTEN,
            T::SCHEMA
        )));
    };
    // Records are JSON objects: put the version first, ahead of the record's own members.
    let Some(rest) = body.strip_prefix(b"{") else {
        return Err(serde::ser::Error::custom(format!("a {} record must serialise as a JSON object", T::KIND)));
    };
    let mut out = format!("{{\"{SCHEMA_MEMBER}\":{version}").into_bytes();
    if rest != b"}" {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    Ok(out)
}

/// The schema version of a stored value (1 when it has none).
pub fn version_of(bytes: &[u8]) -> Result<u32, String> {
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

/// The words of the error [`decode`] gives for a value of a newer version than this process reads.
pub const NEWER: &str = "newer than this Berth reads";

/// Reads a stored value as a record of kind `T`, upgrading older versions; a version newer than this process
/// reads ([`crate::schema::reads`]) is an error.
pub fn decode<T: StoredRecord>(bytes: &[u8]) -> Result<T, String> {
    decode_reading::<T>(bytes, crate::schema::reads::<T>())
}

/// [`decode`] as a Berth whose newest version of `T` is `newest` (at most [`StoredRecord::SCHEMA`]).
pub fn decode_reading<T: StoredRecord>(bytes: &[u8], newest: u32) -> Result<T, String> {
    let version = version_of(bytes)?;
    let newest = newest.min(T::SCHEMA);
    if version > newest {
        return Err(format!(
            "the {} record has schema version {version}, {NEWER} ({newest}): it was written by a newer Berth",
            T::KIND
        ));
    }
    if version == T::SCHEMA {
        // Unknown members (the version itself among them) are ignored by the records' decoders.
        return serde_json::from_slice(bytes).map_err(|e| e.to_string());
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
        const OLDEST_WRITTEN: u32 = 2;
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
        fn downgrade(mut value: serde_json::Value, from: u32) -> Result<serde_json::Value, String> {
            let object = value.as_object_mut().ok_or("not an object")?;
            match from {
                3 => {
                    object.remove("label");
                }
                _ => return Err(format!("no downgrade from {from}")),
            }
            Ok(value)
        }
    }

    #[test]
    fn a_record_is_written_one_version_back_and_reads_again() {
        let record = Counter { count: 6, label: "unnamed".into() };
        let older = encode_at(&record, 2).unwrap();
        assert_eq!(String::from_utf8(older.clone()).unwrap(), r#"{"schema":2,"count":6}"#);
        assert_eq!(decode::<Counter>(&older).unwrap(), record);
        assert_eq!(encode_at(&record, 3).unwrap(), encode(&record).unwrap(), "no ceiling, no peers: the newest");
        let error = encode_at(&record, 1).unwrap_err().to_string();
        assert!(error.contains("versions 2 to 3"), "two versions back is refused: {error}");
        let family = FamilyRecord { family: "web".into(), latest_revision: 3 };
        assert!(encode_at(&family, 0).is_err(), "a kind without a downgrade writes its own version only");
    }

    #[test]
    fn a_server_reading_an_older_release_refuses_what_only_newer_ones_read() {
        let current = encode(&Counter { count: 6, label: "x".into() }).unwrap();
        let error = decode_reading::<Counter>(&current, 2).unwrap_err();
        assert!(error.contains("schema version 3") && error.contains(NEWER) && error.contains("(2)"), "{error}");
        // What that release wrote still reads, in it and in this one.
        assert_eq!(decode_reading::<Counter>(br#"{"schema":2,"count":5}"#, 2).unwrap().count, 5);
        assert_eq!(decode_reading::<Counter>(br#"{"n":4}"#, 2).unwrap().count, 4);
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

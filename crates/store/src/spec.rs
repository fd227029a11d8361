//! The `--store` specification: which backend, and where.

use crate::etcd::{EtcdConfig, EtcdConfigError, EtcdStore};
use crate::{SharedStore, SqliteStore, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

/// A store backend and its location: `sqlite:PATH` or `etcd:URL[,URL...][?prefix=...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// The embedded store in one SQLite file.
    Sqlite(PathBuf),
    /// An etcd cluster.
    Etcd(EtcdConfig),
}

/// A `--store` value that names no backend or a malformed one.
#[derive(Debug, thiserror::Error)]
pub enum StoreSpecError {
    /// Neither `sqlite:` nor `etcd:`.
    #[error("invalid store {spec:?}: expected sqlite:PATH or etcd:http://HOST:PORT[,...][?prefix=/NAME]")]
    UnknownBackend {
        /// The value given.
        spec: String,
    },
    /// `sqlite:` without a path.
    #[error("invalid store {spec:?}: sqlite: needs the database file's path")]
    MissingPath {
        /// The value given.
        spec: String,
    },
    /// A malformed etcd specification.
    #[error(transparent)]
    Etcd(#[from] EtcdConfigError),
}

impl std::str::FromStr for StoreSpec {
    type Err = StoreSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        if let Some(path) = spec.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(StoreSpecError::MissingPath { spec: spec.to_string() });
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some(rest) = spec.strip_prefix("etcd:") {
            return Ok(Self::Etcd(EtcdConfig::parse(rest)?));
        }
        Err(StoreSpecError::UnknownBackend { spec: spec.to_string() })
    }
}

impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Etcd(config) if config.prefix.is_empty() => write!(f, "etcd:{}", config.endpoints.join(",")),
            Self::Etcd(config) => write!(f, "etcd:{}?prefix={}", config.endpoints.join(","), config.prefix),
        }
    }
}

impl StoreSpec {
    /// Opens the store (creating a SQLite file if needed; connecting to etcd and checking that it answers).
    pub async fn open(&self) -> Result<SharedStore, StoreError> {
        Ok(match self {
            Self::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
            Self::Etcd(config) => Arc::new(EtcdStore::connect(config.clone()).await?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_backends() {
        assert_eq!(
            "sqlite:/var/lib/berth/state.db".parse::<StoreSpec>().unwrap(),
            StoreSpec::Sqlite("/var/lib/berth/state.db".into())
        );
        let etcd: StoreSpec = "etcd:http://h1:2379,http://h2:2379?prefix=/b".parse().unwrap();
        assert_eq!(etcd.to_string(), "etcd:http://h1:2379,http://h2:2379?prefix=/b");
        for bad in ["", "state.db", "sqlite:", "etcd:", "postgres://x"] {
            assert!(bad.parse::<StoreSpec>().is_err(), "{bad:?} was accepted");
        }
    }
}

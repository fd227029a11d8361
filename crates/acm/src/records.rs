//! What ACM keeps in `berth_store`, under `/acm/certificate/<id>`: one JSON record (schema 1) per certificate, its
//! private key sealed by the secrets store's envelope encryption (never in clear).

use crate::pem::CertificateFacts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The root of every key.
pub const PREFIX: &str = "/acm/certificate/";
/// The schema version written in every record.
pub const SCHEMA: u32 = 1;

/// An imported certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// The record's schema version.
    pub schema: u32,
    /// CertificateArn.
    pub arn: String,
    /// What the certificate says of itself (PEM, names, dates, algorithms).
    pub facts: StoredFacts,
    /// The private key, sealed for [`key_context`] (an envelope as JSON text).
    pub sealed_key: String,
    /// A random id of the import the key was sealed at, part of its sealing context. Absent from records written
    /// before it existed, whose context has the import's time instead (a float, whose text does not always survive
    /// a JSON round trip: serde_json parses 17-digit numbers to the nearest value only approximately).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_nonce: Option<String>,
    /// CreatedAt: the first import (epoch seconds).
    pub created_at: f64,
    /// ImportedAt: the last import (epoch seconds).
    pub imported_at: f64,
    /// Tags, by key.
    pub tags: BTreeMap<String, String>,
}

/// [`CertificateFacts`] as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFacts {
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The chain, PEM.
    pub chain_pem: Option<String>,
    /// DomainName.
    pub domain_name: String,
    /// SubjectAlternativeNames.
    pub subject_alternative_names: Vec<String>,
    /// Serial.
    pub serial: String,
    /// Subject.
    pub subject: String,
    /// Issuer.
    pub issuer: String,
    /// NotBefore.
    pub not_before: f64,
    /// NotAfter.
    pub not_after: f64,
    /// KeyAlgorithm.
    pub key_algorithm: String,
    /// SignatureAlgorithm.
    pub signature_algorithm: String,
}

impl From<CertificateFacts> for StoredFacts {
    fn from(f: CertificateFacts) -> Self {
        Self {
            certificate_pem: f.certificate_pem,
            chain_pem: f.chain_pem,
            domain_name: f.domain_name,
            subject_alternative_names: f.subject_alternative_names,
            serial: f.serial,
            subject: f.subject,
            issuer: f.issuer,
            not_before: f.not_before,
            not_after: f.not_after,
            key_algorithm: f.key_algorithm,
            signature_algorithm: f.signature_algorithm,
        }
    }
}

/// The key of a certificate's record.
pub fn key(arn: &str) -> String {
    format!("{PREFIX}{}", arn.rsplit('/').next().unwrap_or(arn))
}

/// The sealing context of a certificate's private key: its ARN and the import's nonce (the import's time for older
/// records), so a sealed key moved to another record (or left from an earlier import) does not open.
pub fn key_context(arn: &str, key_nonce: Option<&str>, imported_at: f64) -> String {
    match key_nonce {
        Some(nonce) => format!("acm:private-key:{arn}:{nonce}"),
        None => format!("acm:private-key:{arn}:{imported_at}"),
    }
}

#[cfg(test)]
mod context_tests {
    use super::*;

    #[test]
    fn a_new_records_sealing_context_survives_its_json_round_trip_whatever_its_time() {
        // A time with 17 significant digits: its decimal text is not always parsed back to the same float.
        let arn = "arn:aws:acm:us-east-1:000000000000:certificate/x";
        let record = CertificateRecord {
            schema: 1,
            arn: arn.into(),
            facts: StoredFacts {
                certificate_pem: String::new(),
                chain_pem: None,
                domain_name: "a.test".into(),
                subject_alternative_names: Vec::new(),
                serial: "01".into(),
                subject: String::new(),
                issuer: String::new(),
                not_before: 0.0,
                not_after: 0.0,
                key_algorithm: String::new(),
                signature_algorithm: String::new(),
            },
            sealed_key: String::new(),
            key_nonce: Some("n-1".into()),
            created_at: 1_796_067_800.971_697_3,
            imported_at: 1_796_067_800.971_697_3,
            tags: BTreeMap::new(),
        };
        let sealed_for = key_context(arn, record.key_nonce.as_deref(), record.imported_at);
        let read: CertificateRecord = serde_json::from_slice(&serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(key_context(&read.arn, read.key_nonce.as_deref(), read.imported_at), sealed_for);
        assert_eq!(sealed_for, format!("acm:private-key:{arn}:n-1"));
        // A record written before nonces keeps the time form.
        assert_eq!(key_context(arn, None, 1.5), format!("acm:private-key:{arn}:1.5"));
    }
}

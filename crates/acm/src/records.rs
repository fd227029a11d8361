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

/// The sealing context of a certificate's private key: its ARN and the import's time, so a sealed key moved to
/// another record (or left from an earlier import) does not open.
pub fn key_context(arn: &str, imported_at: f64) -> String {
    format!("acm:private-key:{arn}:{imported_at}")
}

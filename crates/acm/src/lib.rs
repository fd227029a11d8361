//! Berth's AWS Certificate Manager subset: imported certificates for the load balancer's HTTPS listeners.
//!
//! # Background
//! ELBv2 HTTPS listeners name their server certificate by an ACM ARN (`Certificates[].CertificateArn`). Berth
//! serves ACM's `acm/2015-12-08` operations for imported certificates, so `aws acm import-certificate`, Terraform's
//! `aws_acm_certificate` with a private key and CloudFormation's listeners work unchanged, and the load balancer
//! terminates TLS with them.
//!
//! # Design
//! - **Import** ([`pem::check_import`]): one PEM certificate, an unencrypted PEM private key (PKCS#8, PKCS#1 or
//!   SEC1) that matches its public key (compared as rustls does, by SubjectPublicKeyInfo), a chain naming its issuer
//!   unless it is self-signed, the current time within its validity, RSA 2048-4096 or EC P-256/P-384 keys (what
//!   the data plane's rustls with ring can serve). Names, serial, dates and algorithms are read with `x509-parser`.
//!   Re-importing to the same ARN replaces certificate, chain and key and keeps the ARN, creation time and tags.
//! - **Keys at rest** are sealed by a [`berth_iam::Sealer`]: in `berth server`, the secrets store's envelope
//!   encryption ([`berth_secrets`'s `seal_opaque`]: an AES-256-GCM data key under a KMS key under the master key),
//!   bound to the certificate's ARN and import time. Only [`Acm::material`] opens one, for the data plane.
//! - **Records** in `berth_store` under `/acm/certificate/<id>` (schema 1), loaded at start and kept in memory;
//!   writes are serialized. [`Acm::subscribe`] tells the load balancer's sync loop that a certificate changed, so a
//!   re-import reaches the listeners at the next sync.
//! - **In use**: [`CertificateUsers`] (set by the server from ELBv2) names the load balancers whose listeners
//!   serve a certificate: DescribeCertificate's InUseBy and DeleteCertificate's ResourceInUseException.
//!
//! # Limitations
//! No RequestCertificate (no public CA, no ACM Private CA: refused with the reason), ExportCertificate, renewal,
//! revocation, account configuration or certificate options; ListCertificates filters by status and key type only
//! (other filters are refused); DescribeCertificate leaves out KeyUsages and ExtendedKeyUsages. The chain is checked
//! by names (the issuer is the subject of a chain certificate), not by signatures. A second server on the same store
//! sees another server's imports at its next start.

mod error;
mod ops;
pub mod pem;
pub mod records;
mod service;

#[cfg(test)]
mod tests;

pub use error::AcmError;
pub use service::{Acm, AcmConfig, CertificateMaterial, CertificateUsers};

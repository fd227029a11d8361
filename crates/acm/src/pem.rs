//! ImportCertificate's checks: the certificate, its chain and its private key as PEM, the key matching the
//! certificate, the dates, and what DescribeCertificate reports of them (names, serial, algorithms).

use crate::AcmError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::*;

/// The largest certificate (the model's limit).
pub const MAX_CERTIFICATE: usize = 32_768;
/// The largest private key (the model's limit, and AWS's 5 KB).
pub const MAX_PRIVATE_KEY: usize = 5_120;
/// The largest certificate chain (the model's limit).
pub const MAX_CHAIN: usize = 2_097_152;

/// What an imported certificate says of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateFacts {
    /// The certificate, PEM (normalized: one block, LF line ends).
    pub certificate_pem: String,
    /// The chain, PEM (normalized), when given.
    pub chain_pem: Option<String>,
    /// DomainName: the subject's common name, else the first DNS subject alternative name.
    pub domain_name: String,
    /// SubjectAlternativeNames: the DNS names (the domain name when there are none).
    pub subject_alternative_names: Vec<String>,
    /// Serial, as colon-separated hex bytes.
    pub serial: String,
    /// Subject, as a distinguished name.
    pub subject: String,
    /// Issuer, as a distinguished name (for a self-signed certificate, its subject).
    pub issuer: String,
    /// NotBefore (epoch seconds).
    pub not_before: f64,
    /// NotAfter (epoch seconds).
    pub not_after: f64,
    /// KeyAlgorithm, in ACM's words (`RSA_2048`, `EC_prime256v1` ...).
    pub key_algorithm: String,
    /// SignatureAlgorithm, in ACM's words (`SHA256WITHRSA` ...).
    pub signature_algorithm: String,
}

/// Checks an import: one certificate, an unencrypted key that matches it, a chain naming its issuer when it is not
/// self-signed, and `now` within its validity.
pub fn check_import(
    certificate: &[u8],
    private_key: &[u8],
    chain: Option<&[u8]>,
    now: f64,
) -> Result<CertificateFacts, AcmError> {
    size("certificate", certificate, MAX_CERTIFICATE)?;
    size("privateKey", private_key, MAX_PRIVATE_KEY)?;
    if let Some(chain) = chain {
        size("certificateChain", chain, MAX_CHAIN)?;
    }
    let certs = blocks(certificate, "certificate")?;
    let [leaf] = certs.as_slice() else {
        return Err(AcmError::validation(
            "The certificate field contains more than one certificate. You can specify only one certificate in this \
             field.",
        ));
    };
    let chain_blocks = match chain {
        Some(c) => {
            let b = blocks(c, "certificate chain")?;
            if b.is_empty() {
                return Err(AcmError::validation("The certificate chain holds no PEM certificate."));
            }
            Some(b)
        }
        None => None,
    };
    let (_, cert) = parse_x509_certificate(leaf)
        .map_err(|e| AcmError::validation(format!("The certificate is not a valid X.509 certificate: {e}")))?;
    let facts = facts(&cert, leaf, chain_blocks.as_deref())?;
    let self_signed = cert.issuer().as_raw() == cert.subject().as_raw();
    if cert.issuer().as_raw().is_empty() || cert.issuer().iter().next().is_none() {
        return Err(AcmError::validation("The certificate's Issuer field must not be empty."));
    }
    if let Some(chain) = &chain_blocks {
        let mut issuers = Vec::new();
        for der in chain {
            let (_, c) = parse_x509_certificate(der).map_err(|e| {
                AcmError::validation(format!("The certificate chain holds a certificate that is not valid X.509: {e}"))
            })?;
            issuers.push(c.subject().as_raw().to_vec());
        }
        if !self_signed && !issuers.iter().any(|s| s.as_slice() == cert.issuer().as_raw()) {
            return Err(AcmError::validation(format!(
                "Could not validate the certificate with the certificate chain: no certificate of the chain has the \
                 subject {}, the certificate's issuer.",
                facts.issuer
            )));
        }
    } else if !self_signed {
        return Err(AcmError::validation(format!(
            "The certificate is not self-signed (its issuer is {}): import it with its certificate chain.",
            facts.issuer
        )));
    }
    if now < facts.not_before {
        return Err(AcmError::validation(
            "The certificate is not valid yet: the current time is before its NotBefore.",
        ));
    }
    if now > facts.not_after {
        return Err(AcmError::validation("The certificate has expired: the current time is after its NotAfter."));
    }
    check_key(leaf, private_key, &facts.key_algorithm)?;
    Ok(facts)
}

fn size(member: &str, value: &[u8], max: usize) -> Result<(), AcmError> {
    if value.is_empty() || value.len() > max {
        return Err(AcmError::validation(format!(
            "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length \
             less than or equal to {max} and greater than or equal to 1"
        )));
    }
    Ok(())
}

/// The DER of each `CERTIFICATE` block (other blocks refused).
fn blocks(pem: &[u8], what: &str) -> Result<Vec<Vec<u8>>, AcmError> {
    let mut out = Vec::new();
    for item in Pem::iter_from_buffer(pem) {
        let item = item.map_err(|e| AcmError::validation(format!("The {what} is not valid PEM: {e}")))?;
        if item.label != "CERTIFICATE" {
            return Err(AcmError::validation(format!(
                "The {what} must hold PEM CERTIFICATE blocks only (found {}).",
                item.label
            )));
        }
        out.push(item.contents);
    }
    if out.is_empty() && what == "certificate" {
        return Err(AcmError::validation("The certificate is not a PEM-encoded X.509 certificate."));
    }
    Ok(out)
}

fn to_pem(ders: &[Vec<u8>]) -> String {
    use base64::Engine;
    let mut out = String::new();
    for der in ders {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let text = base64::engine::general_purpose::STANDARD.encode(der);
        for line in text.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

fn facts(cert: &X509Certificate<'_>, leaf: &[u8], chain: Option<&[Vec<u8>]>) -> Result<CertificateFacts, AcmError> {
    let mut sans = Vec::new();
    match cert.subject_alternative_name() {
        Ok(Some(ext)) => {
            for name in &ext.value.general_names {
                if let GeneralName::DNSName(d) = name {
                    sans.push((*d).to_string());
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            return Err(AcmError::validation(format!(
                "The certificate's subject alternative names are not valid: {e}"
            )));
        }
    }
    let cn = cert.subject().iter_common_name().next().and_then(|a| a.as_str().ok()).map(str::to_string);
    let domain_name = cn.or_else(|| sans.first().cloned()).ok_or_else(|| {
        AcmError::validation(
            "The certificate names no domain: it has no common name and no DNS subject alternative name.",
        )
    })?;
    if sans.is_empty() {
        sans.push(domain_name.clone());
    }
    Ok(CertificateFacts {
        certificate_pem: to_pem(&[leaf.to_vec()]),
        chain_pem: chain.map(to_pem),
        domain_name,
        subject_alternative_names: sans,
        serial: cert.raw_serial_as_string(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.timestamp() as f64,
        not_after: cert.validity().not_after.timestamp() as f64,
        key_algorithm: key_algorithm(cert)?,
        signature_algorithm: signature_algorithm(&cert.signature_algorithm.algorithm.to_id_string()),
    })
}

fn key_algorithm(cert: &X509Certificate<'_>) -> Result<String, AcmError> {
    let spki = cert.public_key();
    let unsupported = |what: &str| {
        AcmError::validation(format!(
            "The certificate's public key ({what}) is not supported: ACM imports RSA 1024, 2048, 3072 and 4096-bit \
             and EC P-256, P-384 and P-521 keys."
        ))
    };
    match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => match rsa.key_size() {
            n @ (1024 | 2048 | 3072 | 4096) => Ok(format!("RSA_{n}")),
            n => Err(unsupported(&format!("RSA {n}-bit"))),
        },
        Ok(x509_parser::public_key::PublicKey::EC(_)) => {
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => Ok("EC_prime256v1".into()),
                Some("1.3.132.0.34") => Ok("EC_secp384r1".into()),
                Some("1.3.132.0.35") => Ok("EC_secp521r1".into()),
                other => Err(unsupported(&format!("EC curve {}", other.unwrap_or("unnamed")))),
            }
        }
        _ => Err(unsupported(&spki.algorithm.algorithm.to_id_string())),
    }
}

fn signature_algorithm(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "SHA1WITHRSA",
        "1.2.840.113549.1.1.11" => "SHA256WITHRSA",
        "1.2.840.113549.1.1.12" => "SHA384WITHRSA",
        "1.2.840.113549.1.1.13" => "SHA512WITHRSA",
        "1.2.840.113549.1.1.10" => "SHA256WITHRSAPSS",
        "1.2.840.10045.4.1" => "SHA1WITHECDSA",
        "1.2.840.10045.4.3.2" => "SHA256WITHECDSA",
        "1.2.840.10045.4.3.3" => "SHA384WITHECDSA",
        "1.2.840.10045.4.3.4" => "SHA512WITHECDSA",
        other => return other.to_string(),
    }
    .to_string()
}

/// The key: PEM, unencrypted, loadable by the data plane's TLS (rustls with ring), and the certificate's.
fn check_key(leaf: &[u8], private_key: &[u8], key_algorithm: &str) -> Result<(), AcmError> {
    let text = String::from_utf8_lossy(private_key);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(AcmError::validation(
            "The private key is encrypted: ACM imports only unencrypted private keys (no passphrase).",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(private_key)
        .map_err(|e| AcmError::validation(format!("The private key is not a PEM-encoded private key: {e}")))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|_| {
        AcmError::validation(format!(
            "The private key is not supported by Berth's load balancer (rustls with ring serves RSA 2048-4096-bit \
             and EC P-256 and P-384 keys; the certificate's key is {key_algorithm})."
        ))
    })?;
    let certified = rustls::sign::CertifiedKey::new(vec![CertificateDer::from(leaf.to_vec())], signing);
    match certified.keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(AcmError::validation("The private key does not match the certificate's public key."))
        }
        Err(e) => Err(AcmError::validation(format!("The private key cannot be checked against the certificate: {e}"))),
    }
}

#[cfg(test)]
mod tests;

//! A signing profile's key: ECDSA P-256 from a PKCS#8 PEM, with its certificate chain (given, or a self-signed
//! code-signing certificate made for the key).

use crate::SignatureError;
use crate::trust::{certificates_from_pem, parse};
use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

/// How long a self-signed certificate made for a key is valid.
const SELF_SIGNED_DAYS: i64 = 3650;

/// A key that signs images, with the certificate chain that names it (signing certificate first).
pub struct Signer {
    jws: EcdsaKeyPair,
    asn1: EcdsaKeyPair,
    chain: Vec<Vec<u8>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("chain_len", &self.chain.len()).finish_non_exhaustive()
    }
}

fn key_pair(key_pem: &str) -> Result<(KeyPair, Vec<u8>), SignatureError> {
    let key = KeyPair::from_pem(key_pem)
        .map_err(|e| SignatureError::Key { reason: format!("not a PKCS#8 PEM private key: {e}") })?;
    let der = key.serialize_der();
    Ok((key, der))
}

impl Signer {
    /// A signer from a PKCS#8 PEM ECDSA P-256 key and a PEM chain (the key's certificate first) whose first
    /// certificate must hold the key's public key.
    pub fn new(key_pem: &str, chain_pem: &str) -> Result<Self, SignatureError> {
        let (_, der) = key_pair(key_pem)?;
        let chain = certificates_from_pem(chain_pem.as_bytes())?;
        Self::from_parts(&der, chain)
    }

    /// A self-signed code-signing certificate (PEM) for a PKCS#8 PEM ECDSA P-256 key, with `common_name` as its
    /// subject, valid for ten years from `now` (Unix seconds).
    pub fn self_signed_certificate(key_pem: &str, common_name: &str, now: i64) -> Result<String, SignatureError> {
        let (key, _) = key_pair(key_pem)?;
        if key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(SignatureError::Key { reason: "the key is not ECDSA P-256".into() });
        }
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, common_name);
        subject.push(DnType::OrganizationName, "Berth");
        params.distinguished_name = subject;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let date = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .map_err(|e| SignatureError::Certificate { reason: format!("a certificate date: {e}") })
        };
        params.not_before = date(now - 3600)?;
        params.not_after = date(now + SELF_SIGNED_DAYS * 86_400)?;
        params.serial_number = Some(rcgen::SerialNumber::from(now.unsigned_abs().max(1)));
        let cert = params
            .self_signed(&key)
            .map_err(|e| SignatureError::Certificate { reason: format!("signing the certificate: {e}") })?;
        Ok(cert.pem())
    }

    fn from_parts(pkcs8: &[u8], chain: Vec<Vec<u8>>) -> Result<Self, SignatureError> {
        let rng = SystemRandom::new();
        let load = |alg| {
            EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng)
                .map_err(|e| SignatureError::Key { reason: format!("not an ECDSA P-256 PKCS#8 key: {e}") })
        };
        let jws = load(&ECDSA_P256_SHA256_FIXED_SIGNING)?;
        let asn1 = load(&ECDSA_P256_SHA256_ASN1_SIGNING)?;
        let leaf = chain.first().ok_or_else(|| SignatureError::Certificate { reason: "no certificate".into() })?;
        let cert = parse(leaf)?;
        if cert.public_key().subject_public_key.data.as_ref() != jws.public_key().as_ref() {
            return Err(SignatureError::Certificate {
                reason: "the certificate does not hold the signing key's public key".into(),
            });
        }
        Ok(Signer { jws, asn1, chain, rng })
    }

    /// The certificate chain (DER), the signing certificate first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The subject of the signing certificate.
    pub fn subject(&self) -> String {
        self.chain.first().and_then(|der| parse(der).ok()).map(|c| c.subject().to_string()).unwrap_or_default()
    }

    /// The signing certificate, PEM.
    pub fn certificate_pem(&self) -> String {
        pem_of(self.chain.first().map(Vec::as_slice).unwrap_or_default())
    }

    /// The chain after the signing certificate, PEM (empty for a self-signed certificate).
    pub fn intermediates_pem(&self) -> String {
        self.chain.iter().skip(1).map(|der| pem_of(der)).collect()
    }

    /// An ECDSA P-256 SHA-256 signature of `message` as JWS writes it (r || s).
    pub(crate) fn sign_fixed(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        self.jws
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignatureError::Key { reason: "signing failed".into() })
    }

    /// An ECDSA P-256 SHA-256 signature of `message` in ASN.1 DER, as cosign writes it.
    pub(crate) fn sign_asn1(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        self.asn1
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignatureError::Key { reason: "signing failed".into() })
    }
}

/// A DER certificate as PEM.
pub(crate) fn pem_of(der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

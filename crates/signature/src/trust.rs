//! Trusted certificates, and the checks of a certificate chain and of a signature with a certificate's key.

use crate::SignatureError;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The certificates (DER) whose keys, or whose issued certificates, a verification trusts.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    certs: Vec<Vec<u8>>,
}

/// The kinds of public key verification understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
    /// RSA.
    Rsa,
}

pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, SignatureError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| SignatureError::Certificate { reason: format!("not an X.509 certificate: {e}") })?;
    if !rest.is_empty() {
        return Err(SignatureError::Certificate { reason: "trailing bytes after the certificate".into() });
    }
    Ok(cert)
}

/// The certificates (DER) of a PEM text, in order.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, SignatureError> {
    let mut out = Vec::new();
    for item in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let item = item.map_err(|e| SignatureError::Certificate { reason: format!("not PEM: {e}") })?;
        if item.label == "CERTIFICATE" {
            parse(&item.contents)?;
            out.push(item.contents);
        }
    }
    if out.is_empty() {
        return Err(SignatureError::Certificate { reason: "no CERTIFICATE in the PEM text".into() });
    }
    Ok(out)
}

/// The kind of a certificate's public key.
pub(crate) fn key_kind(spki: &SubjectPublicKeyInfo<'_>) -> Result<KeyKind, SignatureError> {
    match spki.parsed() {
        Ok(PublicKey::EC(point)) => match point.key_size() {
            256 => Ok(KeyKind::EcP256),
            384 => Ok(KeyKind::EcP384),
            bits => Err(SignatureError::Certificate { reason: format!("an EC key of {bits} bits is not supported") }),
        },
        Ok(PublicKey::RSA(_)) => Ok(KeyKind::Rsa),
        _ => Err(SignatureError::Certificate { reason: "the key is neither EC nor RSA".into() }),
    }
}

/// Verifies `signature` over `message` with a certificate's public key and `algorithm`.
pub(crate) fn verify_with(
    spki: &SubjectPublicKeyInfo<'_>,
    algorithm: &'static dyn VerificationAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    UnparsedPublicKey::new(algorithm, &spki.subject_public_key.data)
        .verify(message, signature)
        .map_err(|_| SignatureError::BadSignature { reason: "the signature does not match the signer's key".into() })
}

/// The ring algorithm verifying an ASN.1 DER ECDSA signature made with a key of `kind`.
pub(crate) fn ecdsa_asn1(kind: KeyKind) -> Option<&'static dyn VerificationAlgorithm> {
    match kind {
        KeyKind::EcP256 => Some(&signature::ECDSA_P256_SHA256_ASN1),
        KeyKind::EcP384 => Some(&signature::ECDSA_P384_SHA384_ASN1),
        KeyKind::Rsa => None,
    }
}

fn check_validity(cert: &X509Certificate<'_>, now: i64) -> Result<(), SignatureError> {
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return Err(SignatureError::Untrusted {
            reason: format!("the certificate {} is not valid yet", cert.subject()),
        });
    }
    if now > validity.not_after.timestamp() {
        return Err(SignatureError::Untrusted { reason: format!("the certificate {} has expired", cert.subject()) });
    }
    Ok(())
}

fn signed_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    child.issuer() == issuer.subject() && child.verify_signature(Some(issuer.public_key())).is_ok()
}

impl TrustStore {
    /// The certificates of a PEM file's text (at least one).
    pub fn from_pem(pem: &[u8]) -> Result<Self, SignatureError> {
        Ok(TrustStore { certs: certificates_from_pem(pem)? })
    }

    /// Trusted certificates given as DER.
    pub fn from_der(certs: Vec<Vec<u8>>) -> Result<Self, SignatureError> {
        for der in &certs {
            parse(der)?;
        }
        Ok(TrustStore { certs })
    }

    /// How many certificates are trusted.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether nothing is trusted.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The trusted certificates (DER).
    pub(crate) fn certificates(&self) -> &[Vec<u8>] {
        &self.certs
    }

    /// Checks that `chain` (DER, the signing certificate first, each next one its issuer) is valid at `now` and
    /// leads to a trusted certificate: one of the chain is trusted, or the last is issued by a trusted one. The
    /// answer is the signing certificate's subject.
    pub fn check_chain(&self, chain: &[Vec<u8>], now: i64) -> Result<String, SignatureError> {
        let parsed: Vec<X509Certificate<'_>> = chain.iter().map(|der| parse(der)).collect::<Result<_, _>>()?;
        let Some(leaf) = parsed.first() else {
            return Err(SignatureError::Malformed { what: "no certificate chain".into() });
        };
        for cert in &parsed {
            check_validity(cert, now)?;
        }
        let subject = leaf.subject().to_string();
        let links_hold = |upto: usize| (0..upto).all(|i| signed_by(&parsed[i], &parsed[i + 1]));
        if let Some(i) = chain.iter().position(|der| self.certs.contains(der)) {
            return if links_hold(i) {
                Ok(subject)
            } else {
                Err(SignatureError::Untrusted { reason: "a certificate of the chain is not signed by the next".into() })
            };
        }
        let last = parsed.len() - 1;
        let anchored = self
            .certs
            .iter()
            .filter_map(|der| parse(der).ok())
            .any(|anchor| signed_by(&parsed[last], &anchor) && check_validity(&anchor, now).is_ok());
        if anchored && links_hold(last) {
            return Ok(subject);
        }
        Err(SignatureError::Untrusted {
            reason: format!("the certificate {subject} does not chain to a trusted certificate"),
        })
    }
}

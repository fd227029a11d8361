//! Image signatures stored as OCI referrers, in the two formats registries and runtimes check: the Notary
//! Project's (Notation: a JWS envelope) and Sigstore cosign's (a simple-signing payload with its signature in an
//! annotation). No I/O: the registry signs with [`Signer`] and stores the [`Artifact`]; the agent (or a test) fetches
//! a signature artifact and checks it with [`verify_artifact`] against a [`TrustStore`].
//!
//! # Background
//! ECR's managed signing signs an image on push with an AWS Signer profile and stores the signature as a referrer
//! of the image (its `subject`), where `notation verify` finds it through the OCI referrers API. Berth stands the
//! operator's own key (ECDSA P-256, with its certificate or a self-signed one) for a signing profile, and writes both
//! a Notation and a cosign signature, so either tool's verification flow has something to check.
//!
//! # Design
//! - [`notation`]: the signature manifest (`artifactType` `application/vnd.cncf.notary.signature`, the empty
//!   config, one `application/jose+json` layer) and the flattened JWS JSON envelope: payload `{"targetArtifact":
//!   descriptor}`, protected header (`alg`, `cty`, `crit`, `io.cncf.notary.signingScheme` = `notary.x509`,
//!   `io.cncf.notary.signingTime`), unprotected `x5c` chain. Verification checks the `alg` against the leaf key, the
//!   critical headers, the signature, the chain up to a trusted certificate, validity at `now` and the target digest.
//! - [`cosign`]: the signature manifest (`artifactType` `application/vnd.dev.cosign.artifact.sig.v1+json`, one
//!   `application/vnd.dev.cosign.simplesigning.v1+json` layer holding the payload, the base64 DER ECDSA signature in
//!   `dev.cosignproject.cosign/signature` and the signer's certificate in `dev.sigstore.cosign/certificate`).
//!   Verification checks the layer digest, the signature with a trusted key (or a certificate that chains to a
//!   trusted one) and the payload's `docker-manifest-digest`.
//! - [`trust`]: trusted certificates and chain checks (each certificate's signature with its issuer's key).
//!
//! # Limitations
//! Signing keys are ECDSA P-256 in PKCS#8 PEM. Verification accepts ES256/ES384/PS256/PS384/PS512 for Notation and
//! ECDSA P-256/P-384 for cosign. No timestamping authority, revocation (OCSP/CRL), trust policies with identities,
//! Rekor transparency log or Fulcio keyless certificates; the `notary.x509.signingAuthority` scheme is refused.

pub mod cosign;
mod error;
pub mod notation;
mod signer;
pub mod trust;

pub use error::SignatureError;
pub use signer::Signer;
pub use trust::TrustStore;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// The OCI image manifest media type (signature manifests are image manifests with an `artifactType`).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI empty descriptor's media type, the config of an artifact without one.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The content of the OCI empty blob.
pub const EMPTY_BLOB: &[u8] = b"{}";

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the content.
    pub media_type: String,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// The content's size in bytes.
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The artifact type (descriptors of artifacts, e.g. in a referrers list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// The descriptor of `content` with `media_type`.
    pub fn of(media_type: &str, content: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest: sha256_digest(content),
            size: content.len() as u64,
            annotations: None,
            artifact_type: None,
        }
    }
}

/// `sha256:<hex>` of `content`.
pub fn sha256_digest(content: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(content)))
}

/// The signature formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// The Notary Project's JWS envelope.
    Notation,
    /// Sigstore cosign's simple signing.
    Cosign,
}

impl Format {
    /// The artifact type of the format's signature manifests.
    pub fn artifact_type(self) -> &'static str {
        match self {
            Format::Notation => notation::ARTIFACT_TYPE,
            Format::Cosign => cosign::ARTIFACT_TYPE,
        }
    }

    /// The format of an artifact type, if it is a signature's.
    pub fn of_artifact_type(artifact_type: &str) -> Option<Format> {
        [Format::Notation, Format::Cosign].into_iter().find(|f| f.artifact_type() == artifact_type)
    }
}

/// A signature artifact ready to be stored: the manifest and the blobs it names (config and layers), each with
/// its descriptor.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The format.
    pub format: Format,
    /// The signature manifest (an OCI image manifest with `subject` and `artifactType`).
    pub manifest: Vec<u8>,
    /// The blobs the manifest names.
    pub blobs: Vec<(Descriptor, Vec<u8>)>,
}

/// The parts of a signature manifest verification reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignatureManifest {
    #[serde(default)]
    artifact_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

/// Builds a signature manifest for `subject` with one layer.
pub(crate) fn manifest(
    artifact_type: &str,
    layer: &Descriptor,
    subject: &Descriptor,
    annotations: BTreeMap<String, String>,
) -> Result<Vec<u8>, SignatureError> {
    let mut subject = subject.clone();
    subject.annotations = None;
    subject.artifact_type = None;
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": Descriptor::of(OCI_EMPTY, EMPTY_BLOB),
        "layers": [layer],
        "subject": subject,
        "annotations": annotations,
    });
    serde_json::to_vec(&body).map_err(|e| SignatureError::Malformed { what: format!("encoding a manifest: {e}") })
}

/// What a verified signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The format.
    pub format: Format,
    /// The digest the signature covers.
    pub digest: String,
    /// The subject (common name or whole distinguished name) of the certificate that signed, or of the trusted
    /// certificate whose key verified a cosign signature.
    pub signer: String,
}

/// Verifies a signature artifact (its manifest bytes) for the image `subject_digest`: the manifest's subject is
/// the image, its layer is fetched with `fetch` (the caller's registry access) and must match its descriptor, and
/// the signature must verify against `trust` at `now` (Unix seconds).
pub fn verify_artifact(
    manifest: &[u8],
    subject_digest: &str,
    trust: &TrustStore,
    now: i64,
    mut fetch: impl FnMut(&Descriptor) -> Result<Vec<u8>, String>,
) -> Result<Verified, SignatureError> {
    let parsed: SignatureManifest = serde_json::from_slice(manifest)
        .map_err(|e| SignatureError::Malformed { what: format!("the signature manifest: {e}") })?;
    let artifact_type = parsed.artifact_type.clone().unwrap_or_else(|| parsed.config.media_type.clone());
    let format = Format::of_artifact_type(&artifact_type)
        .ok_or_else(|| SignatureError::Malformed { what: format!("{artifact_type:?} is not a signature format") })?;
    match &parsed.subject {
        Some(s) if s.digest == subject_digest => {}
        Some(s) => {
            return Err(SignatureError::WrongSubject { expected: subject_digest.into(), found: s.digest.clone() });
        }
        None => return Err(SignatureError::Malformed { what: "the signature manifest has no subject".into() }),
    }
    let [layer] = parsed.layers.as_slice() else {
        return Err(SignatureError::Malformed { what: "a signature manifest has exactly one layer".into() });
    };
    let blob = fetch(layer).map_err(|reason| SignatureError::Fetch { digest: layer.digest.clone(), reason })?;
    if sha256_digest(&blob) != layer.digest || blob.len() as u64 != layer.size {
        return Err(SignatureError::Malformed {
            what: format!("the layer {} does not match its digest", layer.digest),
        });
    }
    match format {
        Format::Notation => {
            if layer.media_type != notation::ENVELOPE_MEDIA_TYPE {
                return Err(SignatureError::Malformed {
                    what: format!("a Notation envelope of media type {:?}", layer.media_type),
                });
            }
            notation::verify(&blob, subject_digest, trust, now)
        }
        Format::Cosign => {
            if layer.media_type != cosign::PAYLOAD_MEDIA_TYPE {
                return Err(SignatureError::Malformed {
                    what: format!("a cosign payload of media type {:?}", layer.media_type),
                });
            }
            cosign::verify(&blob, &layer.annotations.clone().unwrap_or_default(), subject_digest, trust, now)
        }
    }
}

#[cfg(test)]
mod tests;

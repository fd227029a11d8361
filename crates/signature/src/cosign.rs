//! Sigstore cosign's signature: a simple-signing JSON payload naming the image digest, stored as the one
//! `application/vnd.dev.cosign.simplesigning.v1+json` layer of a manifest whose `artifactType` is
//! `application/vnd.dev.cosign.artifact.sig.v1+json` and whose `subject` is the image; the layer's annotations
//! carry the base64 ASN.1 ECDSA signature of the payload and the signer's certificate (PEM).

use crate::trust::{certificates_from_pem, ecdsa_asn1, key_kind, parse, verify_with};
use crate::{Artifact, Descriptor, EMPTY_BLOB, Format, OCI_EMPTY, SignatureError, Signer, TrustStore, Verified};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::collections::BTreeMap;

/// The artifact type of a cosign signature manifest stored as a referrer.
pub const ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// The media type of the simple-signing payload layer.
pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature of the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The layer annotation holding the signing certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The layer annotation holding the rest of the certificate chain (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The `critical.type` of a container image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

fn malformed(what: impl Into<String>) -> SignatureError {
    SignatureError::Malformed { what: what.into() }
}

/// The simple-signing payload for the image `digest` known as `docker_reference` (`host/repository`).
pub fn payload(docker_reference: &str, digest: &str) -> Result<Vec<u8>, SignatureError> {
    let body = serde_json::json!({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": null,
    });
    serde_json::to_vec(&body).map_err(|e| malformed(e.to_string()))
}

/// Signs `subject` (the image manifest's descriptor), known as `docker_reference`, at `created` (Unix seconds).
pub fn sign(
    signer: &Signer,
    subject: &Descriptor,
    docker_reference: &str,
    created: i64,
) -> Result<Artifact, SignatureError> {
    let payload = payload(docker_reference, &subject.digest)?;
    let signature = STANDARD.encode(signer.sign_asn1(&payload)?);
    let mut annotations = BTreeMap::from([
        (SIGNATURE_ANNOTATION.to_string(), signature),
        (CERTIFICATE_ANNOTATION.to_string(), signer.certificate_pem()),
    ]);
    let intermediates = signer.intermediates_pem();
    if !intermediates.is_empty() {
        annotations.insert(CHAIN_ANNOTATION.to_string(), intermediates);
    }
    let mut layer = Descriptor::of(PAYLOAD_MEDIA_TYPE, &payload);
    layer.annotations = Some(annotations);
    let created = crate::notation::rfc3339(created)?;
    let manifest = crate::manifest(
        ARTIFACT_TYPE,
        &layer,
        subject,
        BTreeMap::from([("org.opencontainers.image.created".to_string(), created)]),
    )?;
    Ok(Artifact {
        format: Format::Cosign,
        manifest,
        blobs: vec![(Descriptor::of(OCI_EMPTY, EMPTY_BLOB), EMPTY_BLOB.to_vec()), (layer, payload)],
    })
}

/// A member of a JSON object by name, ignoring ASCII case as cosign's (Go) decoder does: the specification's own
/// example writes `Docker-manifest-digest`. `Null` when absent.
fn member<'a>(value: &'a Value, name: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    value
        .as_object()
        .and_then(|o| o.get(name).or_else(|| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)))
        .unwrap_or(&NULL)
}

fn verify_with_cert(der: &[u8], payload: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    let cert = parse(der)?;
    let kind = key_kind(cert.public_key())?;
    let algorithm = ecdsa_asn1(kind).ok_or_else(|| malformed("cosign signatures are verified with ECDSA keys only"))?;
    verify_with(cert.public_key(), algorithm, payload, signature)
}

/// Verifies a simple-signing payload and its layer annotations for the image `subject_digest` against `trust` at
/// `now` (Unix seconds). With a certificate annotation the certificate must chain to a trusted one; without, a
/// trusted certificate's key must verify the signature (cosign's `--key` verification).
pub fn verify(
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
    subject_digest: &str,
    trust: &TrustStore,
    now: i64,
) -> Result<Verified, SignatureError> {
    let signature = annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| malformed(format!("the layer has no {SIGNATURE_ANNOTATION} annotation")))?;
    let signature = STANDARD.decode(signature.trim()).map_err(|e| malformed(format!("the signature: {e}")))?;
    let signer = match annotations.get(CERTIFICATE_ANNOTATION) {
        Some(pem) => {
            let mut chain = certificates_from_pem(pem.as_bytes())?;
            if let Some(rest) = annotations.get(CHAIN_ANNOTATION).filter(|c| !c.trim().is_empty()) {
                chain.extend(certificates_from_pem(rest.as_bytes())?);
            }
            verify_with_cert(&chain[0], payload, &signature)?;
            trust.check_chain(&chain, now)?
        }
        None => trust
            .certificates()
            .iter()
            .find(|der| verify_with_cert(der, payload, &signature).is_ok())
            .and_then(|der| parse(der).ok().map(|c| c.subject().to_string()))
            .ok_or_else(|| SignatureError::Untrusted { reason: "no trusted key verifies the signature".into() })?,
    };
    let body: Value = serde_json::from_slice(payload).map_err(|e| malformed(format!("the payload: {e}")))?;
    let critical = member(&body, "critical");
    if member(critical, "type").as_str() != Some(SIGNATURE_TYPE) {
        return Err(malformed(format!("the payload's critical.type is not {SIGNATURE_TYPE:?}")));
    }
    let digest = member(member(critical, "image"), "docker-manifest-digest")
        .as_str()
        .ok_or_else(|| malformed("the payload names no docker-manifest-digest"))?;
    if digest != subject_digest {
        return Err(SignatureError::WrongSubject { expected: subject_digest.into(), found: digest.into() });
    }
    Ok(Verified { format: Format::Cosign, digest: subject_digest.to_string(), signer })
}

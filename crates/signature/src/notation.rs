//! The Notary Project's signature: a flattened JWS JSON envelope over the payload `{"targetArtifact": descriptor}`,
//! stored as the one `application/jose+json` layer of a manifest whose `artifactType` is
//! `application/vnd.cncf.notary.signature` and whose `subject` is the image.

use crate::trust::{KeyKind, key_kind, parse, verify_with};
use crate::{Artifact, Descriptor, EMPTY_BLOB, Format, OCI_EMPTY, SignatureError, Signer, TrustStore, Verified};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{self, VerificationAlgorithm};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The artifact type of a Notation signature manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// The media type of the JWS envelope layer.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/jose+json";
/// The `cty` of the payload.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// The signing scheme Berth signs with (the signing time is the signer's claim).
pub const SCHEME_X509: &str = "notary.x509";
/// The manifest annotation listing the SHA-256 thumbprints of the certificate chain.
pub const THUMBPRINT_ANNOTATION: &str = "io.cncf.notary.x509chain.thumbprint#S256";

const SCHEME: &str = "io.cncf.notary.signingScheme";
const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
const EXPIRY: &str = "io.cncf.notary.expiry";

/// The envelope, in the flattened JWS JSON serialization (no other top-level member is allowed).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    payload: String,
    protected: String,
    header: Unprotected,
    signature: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Unprotected {
    x5c: Vec<String>,
    #[serde(rename = "io.cncf.notary.signingAgent", default, skip_serializing_if = "Option::is_none")]
    signing_agent: Option<String>,
    #[serde(rename = "io.cncf.notary.timestampSignature", default, skip_serializing_if = "Option::is_none")]
    timestamp_signature: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    target_artifact: Descriptor,
}

/// RFC 3339 in whole seconds, UTC (the spec asks for no fractional seconds).
pub(crate) fn rfc3339(unix: i64) -> Result<String, SignatureError> {
    let at = jiff::Timestamp::from_second(unix)
        .map_err(|e| SignatureError::Malformed { what: format!("a signing time: {e}") })?;
    Ok(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn malformed(what: impl Into<String>) -> SignatureError {
    SignatureError::Malformed { what: what.into() }
}

/// Signs `subject` (the image manifest's descriptor) at `signing_time` (Unix seconds): the signature artifact.
pub fn sign(signer: &Signer, subject: &Descriptor, signing_time: i64, agent: &str) -> Result<Artifact, SignatureError> {
    let mut target = subject.clone();
    target.artifact_type = None;
    let payload = serde_json::to_vec(&Payload { target_artifact: target }).map_err(|e| malformed(e.to_string()))?;
    let time = rfc3339(signing_time)?;
    let protected = serde_json::json!({
        "alg": "ES256",
        "cty": PAYLOAD_CONTENT_TYPE,
        "crit": [SCHEME],
        SCHEME: SCHEME_X509,
        SIGNING_TIME: time,
    });
    let protected = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&protected).map_err(|e| malformed(e.to_string()))?);
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let signature = signer.sign_fixed(format!("{protected}.{payload}").as_bytes())?;
    let envelope = Envelope {
        payload,
        protected,
        header: Unprotected {
            x5c: signer.chain().iter().map(|der| STANDARD.encode(der)).collect(),
            signing_agent: Some(agent.to_string()),
            timestamp_signature: None,
        },
        signature: URL_SAFE_NO_PAD.encode(signature),
    };
    let envelope = serde_json::to_vec(&envelope).map_err(|e| malformed(e.to_string()))?;
    let layer = Descriptor::of(ENVELOPE_MEDIA_TYPE, &envelope);
    let thumbprints: Vec<String> =
        signer.chain().iter().map(|der| crate::sha256_digest(der)[7..].to_string()).collect();
    let annotations = BTreeMap::from([
        (THUMBPRINT_ANNOTATION.to_string(), serde_json::to_string(&thumbprints).map_err(|e| malformed(e.to_string()))?),
        ("org.opencontainers.image.created".to_string(), time),
    ]);
    let manifest = crate::manifest(ARTIFACT_TYPE, &layer, subject, annotations)?;
    Ok(Artifact {
        format: Format::Notation,
        manifest,
        blobs: vec![(Descriptor::of(OCI_EMPTY, EMPTY_BLOB), EMPTY_BLOB.to_vec()), (layer, envelope)],
    })
}

/// The verification algorithm of a JWS `alg` for a key of `kind`; `None` when they do not go together.
fn algorithm(alg: &str, kind: KeyKind) -> Option<&'static dyn VerificationAlgorithm> {
    match (alg, kind) {
        ("ES256", KeyKind::EcP256) => Some(&signature::ECDSA_P256_SHA256_FIXED),
        ("ES384", KeyKind::EcP384) => Some(&signature::ECDSA_P384_SHA384_FIXED),
        ("PS256", KeyKind::Rsa) => Some(&signature::RSA_PSS_2048_8192_SHA256),
        ("PS384", KeyKind::Rsa) => Some(&signature::RSA_PSS_2048_8192_SHA384),
        ("PS512", KeyKind::Rsa) => Some(&signature::RSA_PSS_2048_8192_SHA512),
        _ => None,
    }
}

fn time_header(protected: &Map<String, Value>, name: &str) -> Result<Option<i64>, SignatureError> {
    match protected.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => text
            .parse::<jiff::Timestamp>()
            .map(|t| Some(t.as_second()))
            .map_err(|e| malformed(format!("{name} {text:?} is not an RFC 3339 time: {e}"))),
        Some(other) => Err(malformed(format!("{name} is not a string: {other}"))),
    }
}

/// Checks the protected header: content type, the `notary.x509` scheme, its signing time, the critical list (which
/// must name the scheme, and only headers present and understood) and the expiry at `now`. The answer is `alg`.
fn check_protected(protected: &Map<String, Value>, now: i64) -> Result<String, SignatureError> {
    let text = |name: &str| protected.get(name).and_then(Value::as_str);
    if text("cty") != Some(PAYLOAD_CONTENT_TYPE) {
        return Err(malformed(format!("cty must be {PAYLOAD_CONTENT_TYPE}")));
    }
    match text(SCHEME) {
        Some(SCHEME_X509) => {}
        Some(other) => return Err(malformed(format!("the signing scheme {other:?} is not supported"))),
        None => return Err(malformed(format!("{SCHEME} is missing"))),
    }
    if time_header(protected, SIGNING_TIME)?.is_none() {
        return Err(malformed(format!("{SIGNING_TIME} is missing")));
    }
    let crit: Vec<&str> = match protected.get("crit") {
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().unwrap_or_default()).collect(),
        _ => return Err(malformed("crit is missing")),
    };
    if !crit.contains(&SCHEME) {
        return Err(malformed(format!("crit must name {SCHEME}")));
    }
    for name in &crit {
        let understood = [SCHEME, EXPIRY, AUTHENTIC_SIGNING_TIME].contains(name);
        if !understood || !protected.contains_key(*name) {
            return Err(malformed(format!("the critical header {name:?} is not understood or not present")));
        }
    }
    if let Some(expiry) = time_header(protected, EXPIRY)?
        && now > expiry
    {
        return Err(SignatureError::Untrusted { reason: "the signature has expired".into() });
    }
    text("alg").map(str::to_string).ok_or_else(|| malformed("alg is missing"))
}

/// Verifies a JWS envelope for the image `subject_digest` against `trust` at `now` (Unix seconds).
pub fn verify(envelope: &[u8], subject_digest: &str, trust: &TrustStore, now: i64) -> Result<Verified, SignatureError> {
    let envelope: Envelope =
        serde_json::from_slice(envelope).map_err(|e| malformed(format!("the JWS envelope: {e}")))?;
    let decode = |what: &str, text: &str| {
        URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).map_err(|e| malformed(format!("{what}: {e}")))
    };
    let protected: Map<String, Value> = serde_json::from_slice(&decode("protected", &envelope.protected)?)
        .map_err(|e| malformed(format!("the protected header: {e}")))?;
    let alg = check_protected(&protected, now)?;
    let chain: Vec<Vec<u8>> = envelope
        .header
        .x5c
        .iter()
        .map(|c| STANDARD.decode(c).map_err(|e| malformed(format!("x5c: {e}"))))
        .collect::<Result<_, _>>()?;
    let leaf = chain.first().ok_or_else(|| malformed("x5c is empty"))?;
    let leaf = parse(leaf)?;
    let kind = key_kind(leaf.public_key())?;
    let algorithm = algorithm(&alg, kind)
        .ok_or_else(|| malformed(format!("alg {alg:?} does not match the signing certificate's {kind:?} key")))?;
    let signing_input = format!("{}.{}", envelope.protected, envelope.payload);
    verify_with(leaf.public_key(), algorithm, signing_input.as_bytes(), &decode("signature", &envelope.signature)?)?;
    let signer = trust.check_chain(&chain, now)?;
    let payload: Payload = serde_json::from_slice(&decode("payload", &envelope.payload)?)
        .map_err(|e| malformed(format!("the payload: {e}")))?;
    if payload.target_artifact.digest != subject_digest {
        return Err(SignatureError::WrongSubject {
            expected: subject_digest.to_string(),
            found: payload.target_artifact.digest,
        });
    }
    Ok(Verified { format: Format::Notation, digest: subject_digest.to_string(), signer })
}

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

const NOW: i64 = 1_790_000_000;

fn key() -> String {
    rcgen::KeyPair::generate().unwrap().serialize_pem()
}

fn self_signed(name: &str) -> (Signer, TrustStore) {
    let key = key();
    let cert = Signer::self_signed_certificate(&key, name, NOW).unwrap();
    (Signer::new(&key, &cert).unwrap(), TrustStore::from_pem(cert.as_bytes()).unwrap())
}

fn image() -> Descriptor {
    Descriptor::of(OCI_MANIFEST, br#"{"schemaVersion":2,"layers":[]}"#)
}

fn blobs(artifact: &Artifact) -> impl FnMut(&Descriptor) -> Result<Vec<u8>, String> + '_ {
    |d: &Descriptor| {
        artifact.blobs.iter().find(|(b, _)| b.digest == d.digest).map(|(_, c)| c.clone()).ok_or("missing".into())
    }
}

fn both(signer: &Signer, subject: &Descriptor) -> [Artifact; 2] {
    [
        notation::sign(signer, subject, NOW, "berth/test").unwrap(),
        cosign::sign(signer, subject, "127.0.0.1:7700/app", NOW).unwrap(),
    ]
}

#[test]
fn both_formats_verify_with_the_signers_certificate() {
    let (signer, trust) = self_signed("Berth signing profile prod");
    let subject = image();
    for artifact in both(&signer, &subject) {
        let verified =
            verify_artifact(&artifact.manifest, &subject.digest, &trust, NOW + 60, blobs(&artifact)).unwrap();
        assert_eq!(verified.format, artifact.format);
        assert!(verified.signer.contains("Berth signing profile prod"), "{}", verified.signer);
        let manifest: serde_json::Value = serde_json::from_slice(&artifact.manifest).unwrap();
        assert_eq!(manifest["artifactType"], artifact.format.artifact_type());
        assert_eq!(manifest["subject"]["digest"], subject.digest);
        assert_eq!(manifest["config"]["mediaType"], OCI_EMPTY);
    }
}

#[test]
fn notation_envelope_has_the_specified_headers() {
    let (signer, _) = self_signed("p");
    let artifact = notation::sign(&signer, &image(), NOW, "berth/test").unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(&artifact.blobs[1].1).unwrap();
    let protected = URL_SAFE_NO_PAD.decode(envelope["protected"].as_str().unwrap()).unwrap();
    let protected: serde_json::Value = serde_json::from_slice(&protected).unwrap();
    assert_eq!(protected["alg"], "ES256");
    assert_eq!(protected["cty"], notation::PAYLOAD_CONTENT_TYPE);
    assert_eq!(protected["io.cncf.notary.signingScheme"], "notary.x509");
    assert_eq!(protected["crit"], serde_json::json!(["io.cncf.notary.signingScheme"]));
    assert_eq!(protected["io.cncf.notary.signingTime"], "2026-09-21T14:13:20Z");
    let x5c = envelope["header"]["x5c"].as_array().unwrap();
    assert_eq!(STANDARD.decode(x5c[0].as_str().unwrap()).unwrap(), signer.chain()[0]);
    let payload = URL_SAFE_NO_PAD.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(payload["targetArtifact"]["digest"], image().digest);
    assert_eq!(payload["targetArtifact"]["mediaType"], OCI_MANIFEST);
}

#[test]
fn another_key_is_not_trusted() {
    let (signer, _) = self_signed("a");
    let (_, other) = self_signed("a");
    let subject = image();
    for artifact in both(&signer, &subject) {
        let e = verify_artifact(&artifact.manifest, &subject.digest, &other, NOW, blobs(&artifact)).unwrap_err();
        assert!(matches!(e, SignatureError::Untrusted { .. }), "{e}");
    }
}

#[test]
fn a_signature_for_another_image_is_refused() {
    let (signer, trust) = self_signed("a");
    let subject = image();
    let other = Descriptor::of(OCI_MANIFEST, b"{}");
    for artifact in both(&signer, &subject) {
        let e = verify_artifact(&artifact.manifest, &other.digest, &trust, NOW, blobs(&artifact)).unwrap_err();
        assert!(matches!(e, SignatureError::WrongSubject { .. }), "{e}");
    }
    // The payload itself names the image: an envelope moved under another subject fails too.
    let artifact = notation::sign(&signer, &subject, NOW, "t").unwrap();
    let e = notation::verify(&artifact.blobs[1].1, &other.digest, &trust, NOW).unwrap_err();
    assert!(matches!(e, SignatureError::WrongSubject { .. }), "{e}");
}

/// Replaces the JSON string member `name` of `envelope` with `value`.
fn with_member(envelope: &[u8], name: &str, value: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(envelope).unwrap();
    v[name] = serde_json::Value::String(value.to_string());
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn tampered_notation_envelopes_fail() {
    let (signer, trust) = self_signed("a");
    let subject = image();
    let envelope = notation::sign(&signer, &subject, NOW, "t").unwrap().blobs[1].1.clone();
    assert!(notation::verify(&envelope, &subject.digest, &trust, NOW).is_ok());
    // Another payload (the same image, another size) under the same signature.
    let mut bigger = subject.clone();
    bigger.size += 1;
    let forged = URL_SAFE_NO_PAD.encode(format!(r#"{{"targetArtifact":{}}}"#, serde_json::to_string(&bigger).unwrap()));
    let e = notation::verify(&with_member(&envelope, "payload", &forged), &subject.digest, &trust, NOW).unwrap_err();
    assert!(matches!(e, SignatureError::BadSignature { .. }), "{e}");
    // A flipped bit in the signature.
    let v: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(v["signature"].as_str().unwrap()).unwrap();
    sig[10] ^= 1;
    let e = notation::verify(
        &with_member(&envelope, "signature", &URL_SAFE_NO_PAD.encode(sig)),
        &subject.digest,
        &trust,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(e, SignatureError::BadSignature { .. }), "{e}");
    // Headers that are not understood or do not fit the key.
    let header = |h: serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&h).unwrap());
    let base = serde_json::json!({"alg": "ES256", "cty": notation::PAYLOAD_CONTENT_TYPE,
        "crit": ["io.cncf.notary.signingScheme"], "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": "2026-01-01T00:00:00Z"});
    for (change, want) in [
        (serde_json::json!({"alg": "ES384"}), "does not match"),
        (serde_json::json!({"alg": "none"}), "does not match"),
        (serde_json::json!({"cty": "application/json"}), "cty"),
        (serde_json::json!({"crit": ["io.cncf.notary.signingScheme", "x-unknown"], "x-unknown": 1}), "x-unknown"),
        (serde_json::json!({"crit": []}), "crit"),
        (serde_json::json!({"io.cncf.notary.signingScheme": "notary.x509.signingAuthority"}), "not supported"),
        (serde_json::json!({"io.cncf.notary.signingTime": null}), "signingTime"),
    ] {
        let mut h = base.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                h.as_object_mut().unwrap().remove(k);
            } else {
                h[k] = v.clone();
            }
        }
        let e = notation::verify(&with_member(&envelope, "protected", &header(h)), &subject.digest, &trust, NOW)
            .unwrap_err();
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
    // An unknown top-level member is not the flattened JWS JSON serialization.
    let mut v: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    v["signatures"] = serde_json::json!([]);
    assert!(notation::verify(&serde_json::to_vec(&v).unwrap(), &subject.digest, &trust, NOW).is_err());
}

#[test]
fn tampered_cosign_signatures_fail() {
    let (signer, trust) = self_signed("a");
    let subject = image();
    let artifact = cosign::sign(&signer, &subject, "h/app", NOW).unwrap();
    let (layer, payload) = artifact.blobs[1].clone();
    let annotations = layer.annotations.clone().unwrap();
    assert!(cosign::verify(&payload, &annotations, &subject.digest, &trust, NOW).is_ok());
    let forged = cosign::payload("h/other", &subject.digest).unwrap();
    let e = cosign::verify(&forged, &annotations, &subject.digest, &trust, NOW).unwrap_err();
    assert!(matches!(e, SignatureError::BadSignature { .. }), "{e}");
    // A payload written with the specification's capitalised member names verifies too.
    let spec_case = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"h/app"}},"Image":{{"Docker-manifest-digest":"{}"}},"Type":"{}"}},"optional":null}}"#,
        subject.digest,
        cosign::SIGNATURE_TYPE
    );
    let mut signed = annotations.clone();
    signed
        .insert(cosign::SIGNATURE_ANNOTATION.into(), STANDARD.encode(signer.sign_asn1(spec_case.as_bytes()).unwrap()));
    assert!(cosign::verify(spec_case.as_bytes(), &signed, &subject.digest, &trust, NOW).is_ok());
    // Without the certificate annotation the trusted key itself verifies (cosign --key); a stranger's does not.
    let mut bare = annotations.clone();
    bare.remove(cosign::CERTIFICATE_ANNOTATION);
    assert!(cosign::verify(&payload, &bare, &subject.digest, &trust, NOW).is_ok());
    let (_, stranger) = self_signed("b");
    assert!(matches!(
        cosign::verify(&payload, &bare, &subject.digest, &stranger, NOW),
        Err(SignatureError::Untrusted { .. })
    ));
    // A layer whose bytes do not match its descriptor.
    let mut altered = artifact.clone();
    altered.blobs[1].1 = forged;
    let e = verify_artifact(&artifact.manifest, &subject.digest, &trust, NOW, blobs(&altered)).unwrap_err();
    assert!(e.to_string().contains("does not match its digest"), "{e}");
}

#[test]
fn expired_certificates_are_not_trusted() {
    let (signer, trust) = self_signed("a");
    let subject = image();
    let later = NOW + 11 * 365 * 86_400;
    for artifact in both(&signer, &subject) {
        let e = verify_artifact(&artifact.manifest, &subject.digest, &trust, later, blobs(&artifact)).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
    }
}

#[test]
fn a_chain_to_a_trusted_ca_verifies() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "Test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.clone().self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name.push(DnType::CommonName, "Test signer");
    let leaf_cert = leaf.signed_by(&leaf_key, &Issuer::new(ca, &ca_key)).unwrap();
    let chain = format!("{}{}", leaf_cert.pem(), ca_cert.pem());
    let signer = Signer::new(&leaf_key.serialize_pem(), &chain).unwrap();
    let trust = TrustStore::from_pem(ca_cert.pem().as_bytes()).unwrap();
    let subject = image();
    let now = jiff::Timestamp::now().as_second();
    for artifact in both(&signer, &subject) {
        let verified = verify_artifact(&artifact.manifest, &subject.digest, &trust, now, blobs(&artifact)).unwrap();
        assert!(verified.signer.contains("Test signer"), "{}", verified.signer);
    }
    // The leaf alone (without its CA in the chain) still chains to the trusted CA.
    let alone = Signer::new(&leaf_key.serialize_pem(), &leaf_cert.pem()).unwrap();
    let artifact = notation::sign(&alone, &subject, now, "t").unwrap();
    assert!(notation::verify(&artifact.blobs[1].1, &subject.digest, &trust, now).is_ok());
}

#[test]
fn keys_and_certificates_are_checked() {
    let k = key();
    let other = Signer::self_signed_certificate(&key(), "x", NOW).unwrap();
    let e = Signer::new(&k, &other).unwrap_err();
    assert!(e.to_string().contains("does not hold the signing key"), "{e}");
    assert!(Signer::new("not a key", &other).is_err());
    assert!(TrustStore::from_pem(b"nothing").is_err());
    let rsa_like = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap().serialize_pem();
    assert!(Signer::self_signed_certificate(&rsa_like, "x", NOW).is_err());
}

use super::*;
use serde_json::json;

fn d(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn image(media_type: &str) -> serde_json::Value {
    json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d(1), "size": 10},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d(2), "size": 20},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d(3), "size": 30}
        ]
    })
}

fn bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn parses_oci_image_manifest() {
    let raw = bytes(&image(OCI_MANIFEST));
    let m = parse(&raw, Some(OCI_MANIFEST)).unwrap();
    assert_eq!(m.kind, ManifestKind::Image);
    assert_eq!(m.media_type, OCI_MANIFEST);
    assert_eq!(m.digest, Digest::sha256_of(&raw));
    assert_eq!(m.required_blobs().len(), 3);
    assert_eq!(m.content_size(raw.len()), 50);
    assert_eq!(m.effective_artifact_type().as_deref(), Some("application/vnd.oci.image.config.v1+json"));
}

#[test]
fn parses_docker_schema2_and_ignores_content_type_parameters() {
    let raw = bytes(&image(DOCKER_MANIFEST));
    let m = parse(&raw, Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8")).unwrap();
    assert_eq!(m.media_type, DOCKER_MANIFEST);
    assert_eq!(m.kind, ManifestKind::Image);
}

#[test]
fn parses_indexes_and_manifest_lists() {
    for media_type in [OCI_INDEX, DOCKER_MANIFEST_LIST] {
        let v = json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": d(4), "size": 500,
                           "platform": {"architecture": "amd64", "os": "linux"}}]
        });
        let m = parse(&bytes(&v), None).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.manifests.len(), 1);
        assert!(m.required_blobs().is_empty());
        assert_eq!(m.effective_artifact_type(), None);
    }
}

#[test]
fn infers_media_type_when_absent() {
    let mut v = image(OCI_MANIFEST);
    v.as_object_mut().unwrap().remove("mediaType");
    assert_eq!(parse(&bytes(&v), None).unwrap().media_type, OCI_MANIFEST);
    assert_eq!(parse(&bytes(&v), Some(DOCKER_MANIFEST)).unwrap().media_type, DOCKER_MANIFEST);
    let idx = json!({"schemaVersion": 2, "manifests": []});
    assert_eq!(parse(&bytes(&idx), Some("application/json")).unwrap().media_type, OCI_INDEX);
}

#[test]
fn reads_subject_and_artifact_type() {
    let mut v = image(OCI_MANIFEST);
    v["artifactType"] = json!("application/vnd.example.sbom");
    v["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": d(9), "size": 3});
    v["annotations"] = json!({"a": "b"});
    let m = parse(&bytes(&v), None).unwrap();
    assert_eq!(m.subject.as_ref().unwrap().digest, d(9));
    assert_eq!(m.effective_artifact_type().as_deref(), Some("application/vnd.example.sbom"));
    assert_eq!(m.annotations.unwrap()["a"], "b");
}

#[test]
fn refuses_invalid_manifests() {
    let cases: Vec<(serde_json::Value, Option<&str>)> = vec![
        (image(OCI_MANIFEST), Some(DOCKER_MANIFEST)), // declared type differs from mediaType
        (
            json!({"schemaVersion": 1, "mediaType": OCI_MANIFEST, "config": image(OCI_MANIFEST)["config"], "layers": []}),
            None,
        ),
        (json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}), None), // no config
        (json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": image(OCI_MANIFEST)["config"]}), None), // no layers
        (
            json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": image(OCI_MANIFEST)["config"], "layers": []}),
            None,
        ),
        (json!({"schemaVersion": 2, "mediaType": OCI_INDEX}), None), // no manifests
        (json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "layers": []}), None),
        (
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": "x", "digest": "sha256:zz", "size": 1}, "layers": []}),
            None,
        ),
        (
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": "x", "digest": d(1), "size": -1}, "layers": []}),
            None,
        ),
        (
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": d(1), "size": 1}, "layers": []}),
            None,
        ),
        (json!([1, 2, 3]), None),
    ];
    for (v, ct) in cases {
        let err = parse(&bytes(&v), ct).unwrap_err();
        assert!(matches!(err, ManifestError::Invalid { .. }), "{v}: {err:?}");
    }
    assert!(matches!(parse(b"not json", None), Err(ManifestError::Invalid { .. })));
}

#[test]
fn refuses_unsupported_media_types_and_oversize() {
    let v = json!({"schemaVersion": 1, "mediaType": DOCKER_SCHEMA1_SIGNED});
    assert!(matches!(parse(&bytes(&v), None), Err(ManifestError::Unsupported { .. })));
    let mut big = image(OCI_MANIFEST);
    big["annotations"] = json!({"pad": "x".repeat(MAX_MANIFEST_BYTES)});
    assert!(matches!(parse(&bytes(&big), None), Err(ManifestError::TooLarge { .. })));
}

#[test]
fn foreign_layers_are_not_required() {
    let mut v = image(DOCKER_MANIFEST);
    v["layers"][0]["mediaType"] = json!("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip");
    v["layers"][0]["urls"] = json!(["https://example.invalid/layer"]);
    let m = parse(&bytes(&v), None).unwrap();
    assert_eq!(m.required_blobs().len(), 2);
    assert_eq!(bare_media_type("a/b ; q=1"), "a/b");
    assert!(is_manifest_media_type(OCI_INDEX) && !is_manifest_media_type("application/json"));
}

//! ECR API edge cases over raw JSON: protocol errors, validation as ECR does it, tag mutability modes.

use crate::common::image::{self, OCI_MANIFEST};
use crate::common::{Oci, TestServer};
use serde_json::json;

async fn err(server: &TestServer, op: &str, body: serde_json::Value) -> String {
    let (status, out) = server.ecr(op, body.clone()).await;
    assert_eq!(status, 400, "{op} {body}: {out}");
    out["__type"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors() {
    let server = TestServer::start().await;
    assert_eq!(err(&server, "NoSuchOperation", json!({})).await, "UnknownOperationException");
    // Signing: nothing configured yet; this server has no signing profile, so every rule is refused.
    assert_eq!(err(&server, "GetSigningConfiguration", json!({})).await, "SigningConfigurationNotFoundException");
    assert_eq!(err(&server, "DeleteSigningConfiguration", json!({})).await, "SigningConfigurationNotFoundException");
    let signing = |arn: &str| json!({"signingConfiguration": {"rules": [{"signingProfileArn": arn}]}});
    assert_eq!(err(&server, "PutSigningConfiguration", signing("arn:aws:signer:x")).await, "ValidationException");
    let unknown = format!("arn:aws:signer:us-east-1:{}:/signing-profiles/nope", crate::common::ACCOUNT);
    assert_eq!(err(&server, "PutSigningConfiguration", signing(&unknown)).await, "InvalidParameterException");
    assert_eq!(
        err(&server, "DescribeImageSigningStatus", json!({"repositoryName": "missing", "imageId": {"imageTag": "v1"}}))
            .await,
        "RepositoryNotFoundException"
    );
    // Replication: the configuration is required; a destination no server is configured for is refused; the
    // model's patterns and limits are ValidationException.
    assert_eq!(err(&server, "PutReplicationConfiguration", json!({})).await, "SerializationException");
    let to = |region: &str, id: &str| json!({"replicationConfiguration": {"rules": [{"destinations": [{"region": region, "registryId": id}]}]}});
    assert_eq!(
        err(&server, "PutReplicationConfiguration", to("eu-west-1", "123456789012")).await,
        "InvalidParameterException"
    );
    assert_eq!(err(&server, "PutReplicationConfiguration", to("eu-west-1", "12")).await, "ValidationException");
    let (status, out) =
        server.ecr("PutReplicationConfiguration", json!({"replicationConfiguration": {"rules": []}})).await;
    assert_eq!((status, &out["replicationConfiguration"]), (200, &json!({"rules": []})), "{out}");
    let id = json!({"imageTag": "v1"});
    assert_eq!(
        err(&server, "DescribeImageReplicationStatus", json!({"repositoryName": "missing", "imageId": id})).await,
        "RepositoryNotFoundException"
    );
    let (_, out) = server.ecr("CreateRepository", json!({"repositoryName": 7})).await;
    assert_eq!(out["__type"], "SerializationException");
    assert!(out["message"].as_str().unwrap().contains("repositoryName"));
    let (_, out) = server
        .ecr("CreateRepository", json!({"repositoryName": "ab", "imageScanningConfiguration": {"scanOnPush": "yes"}}))
        .await;
    assert!(out["message"].as_str().unwrap().contains("imageScanningConfiguration.scanOnPush"), "{out}");
    assert_eq!(
        err(&server, "CreateRepository", json!({"repositoryName": "ab", "registryId": "123456789012"})).await,
        "InvalidParameterException"
    );
    assert_eq!(
        err(&server, "DescribeRepositories", json!({"nextToken": "garbage!"})).await,
        "InvalidParameterException"
    );
    assert_eq!(err(&server, "DescribeRepositories", json!({"maxResults": 1001})).await, "InvalidParameterException");
    assert_eq!(err(&server, "ListImages", json!({"repositoryName": "missing"})).await, "RepositoryNotFoundException");
    assert_eq!(
        err(&server, "BatchGetImage", json!({"repositoryName": "missing", "imageIds": []})).await,
        "InvalidParameterException"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_tags_are_validated_as_ecr_does() {
    let server = TestServer::start().await;
    for bad in ["a", "UPPER", "-lead", "trail-", "a//b", "a b", &"x".repeat(257)] {
        assert_eq!(
            err(&server, "CreateRepository", json!({"repositoryName": bad})).await,
            "InvalidParameterException",
            "{bad}"
        );
    }
    server.create_repo("ns/app-1.x_y").await;
    let oci = Oci::new(&server).await;
    let img = image::small_image("tags", 1);
    for l in &img.layers {
        oci.push_blob("ns/app-1.x_y", &l.blob).await;
    }
    oci.push_blob("ns/app-1.x_y", &img.config).await;
    let manifest = String::from_utf8(img.manifest.clone()).unwrap();
    let long_ok = "t".repeat(300);
    server
        .ecr_ok("PutImage", json!({"repositoryName": "ns/app-1.x_y", "imageManifest": manifest, "imageTag": long_ok}))
        .await;
    for bad in ["t".repeat(301), "bad tag".into(), ".dot".into(), "a:b".into()] {
        assert_eq!(
            err(
                &server,
                "PutImage",
                json!({"repositoryName": "ns/app-1.x_y", "imageManifest": manifest, "imageTag": bad})
            )
            .await,
            "InvalidParameterException"
        );
    }
    assert_eq!(
        err(&server, "PutImage", json!({"repositoryName": "ns/app-1.x_y", "imageManifest": "{}"})).await,
        "InvalidParameterException"
    );
    assert_eq!(
        err(
            &server,
            "PutImage",
            json!({"repositoryName": "ns/app-1.x_y", "imageManifest": manifest, "imageDigest": "sha256:zz"})
        )
        .await,
        "InvalidParameterException"
    );
    let listed = server.ecr_ok("ListImages", json!({"repositoryName": "ns/app-1.x_y"})).await;
    assert_eq!(listed["imageIds"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutability_mode_with_exclusions() {
    let server = TestServer::start().await;
    let oci = Oci::new(&server).await;
    let a = image::small_image("mut-a", 1);
    let b = image::small_image("mut-b", 1);
    let cases = [
        ("MUTABLE", None, vec![("v1", true), ("dev-1", true)]),
        ("IMMUTABLE", None, vec![("v1", false), ("dev-1", false)]),
        ("IMMUTABLE_WITH_EXCLUSION", Some("dev-*"), vec![("v1", false), ("dev-1", true)]),
        ("MUTABLE_WITH_EXCLUSION", Some("dev-*"), vec![("v1", true), ("dev-1", false)]),
    ];
    for (i, (mode, filter, expect)) in cases.into_iter().enumerate() {
        let repo = format!("mut{i}");
        server.create_repo(&repo).await;
        let mut body = json!({"repositoryName": repo, "imageTagMutability": mode});
        if let Some(f) = filter {
            body["imageTagMutabilityExclusionFilters"] = json!([{"filterType": "WILDCARD", "filter": f}]);
        }
        let out = server.ecr_ok("PutImageTagMutability", body).await;
        assert_eq!(out["imageTagMutability"], mode);
        for img in [&a, &b] {
            for l in &img.layers {
                oci.push_blob(&repo, &l.blob).await;
            }
            oci.push_blob(&repo, &img.config).await;
        }
        for (tag, movable) in expect {
            let first = json!({"repositoryName": repo, "imageManifest": String::from_utf8(a.manifest.clone()).unwrap(), "imageTag": tag});
            server.ecr_ok("PutImage", first).await;
            let second = json!({"repositoryName": repo, "imageManifest": String::from_utf8(b.manifest.clone()).unwrap(), "imageTag": tag});
            let (status, out) = server.ecr("PutImage", second).await;
            if movable {
                assert_eq!(status, 200, "{mode} {tag}: {out}");
            } else {
                assert_eq!(out["__type"], "ImageTagAlreadyExistsException", "{mode} {tag}");
            }
            // The OCI API agrees: moving the tag to the other image works exactly when the tag is mutable.
            let other = if movable { &a } else { &b };
            let r = oci.put_manifest(&repo, tag, OCI_MANIFEST, &other.manifest).await;
            assert_eq!(r.status() == 201, movable, "{mode} {tag} over OCI");
        }
    }
    // Exclusion filters need a *_WITH_EXCLUSION mode, and a valid pattern.
    assert_eq!(
        err(
            &server,
            "PutImageTagMutability",
            json!({"repositoryName": "mut0", "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"})
        )
        .await,
        "InvalidParameterException"
    );
    assert_eq!(
        err(
            &server,
            "PutImageTagMutability",
            json!({"repositoryName": "mut0", "imageTagMutability": "MUTABLE",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "x"}]})
        )
        .await,
        "InvalidParameterException"
    );
    assert_eq!(
        err(
            &server,
            "PutImageTagMutability",
            json!({"repositoryName": "mut0", "imageTagMutability": "MUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "bad/filter"}]})
        )
        .await,
        "InvalidParameterException"
    );
}

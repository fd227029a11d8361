//! ECR registry settings through a real `berth server`, the `aws ecr` CLI and skopeo: a registry scanning rule
//! scans on push, an archived image cannot be pulled until it is restored, referrers pushed with a `subject` are
//! listed, and the registry policy, account settings and pull-time exclusions are kept across a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions};
use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn password(berth: &Berth) -> String {
    aws_cli(berth, &["ecr", "get-login-password"]).trim().to_string()
}

/// Pulls `repo:v1` with skopeo into a fresh directory (manifest and blobs).
fn pull(berth: &Berth, creds: &str, repo: &str, into: &Path) -> Result<String, String> {
    let _ = std::fs::remove_dir_all(into);
    let source = format!("docker://127.0.0.1:{}/{repo}:v1", berth.port);
    let dest = format!("dir:{}", into.display());
    skopeo(&["copy", "--src-tls-verify=false", "--src-creds", creds, &source, &dest])
}

/// Waits until the image's scan is COMPLETE; the findings answer.
async fn wait_scanned(berth: &Berth, repo: &str) -> Value {
    for _ in 0..100 {
        let out = aws_json(
            berth,
            "ecr",
            &["describe-image-scan-findings", "--repository-name", repo, "--image-id", "imageTag=v1"],
            &[],
        );
        if let Ok(out) = out
            && out["imageScanStatus"]["status"] == "COMPLETE"
        {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{repo}:v1 was not scanned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_settings_through_the_aws_cli_and_skopeo() {
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let work = tempfile::tempdir().unwrap();
    let (scanned, plain) = ("scan-web", "plain-web");
    for repo in [scanned, plain] {
        aws_ok(&berth, "ecr", &["create-repository", "--repository-name", repo]);
    }

    // A BASIC registry rule scans pushes to scan-* (the repositories' own scanOnPush flags are off).
    let rules =
        r#"[{"scanFrequency":"SCAN_ON_PUSH","repositoryFilters":[{"filter":"scan-*","filterType":"WILDCARD"}]}]"#;
    let put = aws_ok(&berth, "ecr", &["put-registry-scanning-configuration", "--scan-type", "BASIC", "--rules", rules]);
    assert_eq!(put["registryScanningConfiguration"]["rules"][0]["scanFrequency"], "SCAN_ON_PUSH");
    let e = aws_err(
        &berth,
        "ecr",
        &[
            "put-registry-scanning-configuration",
            "--scan-type",
            "BASIC",
            "--rules",
            &rules.replace("SCAN_ON_PUSH", "CONTINUOUS_SCAN"),
        ],
    );
    assert!(e.contains("InvalidParameterException") && e.contains("ENHANCED"), "{e}");
    let batch = aws_ok(
        &berth,
        "ecr",
        &["batch-get-repository-scanning-configuration", "--repository-names", scanned, plain, "nope-web"],
    );
    assert_eq!(batch["scanningConfigurations"][0]["scanFrequency"], "SCAN_ON_PUSH");
    assert_eq!(batch["scanningConfigurations"][1]["scanFrequency"], "MANUAL");
    assert_eq!(batch["failures"][0]["failureCode"], "REPOSITORY_NOT_FOUND");

    let layout = work.path().join("layout");
    oci_layout(&layout, "registry settings\n");
    let creds = format!("AWS:{}", password(&berth));
    for repo in [scanned, plain] {
        let dest = format!("docker://127.0.0.1:{}/{repo}:v1", berth.port);
        let source = format!("oci:{}:v1", layout.display());
        skopeo(&["copy", "--dest-tls-verify=false", "--dest-creds", &creds, &source, &dest]).unwrap();
    }
    let findings = wait_scanned(&berth, scanned).await;
    let description = findings["imageScanStatus"]["description"].as_str().unwrap();
    assert!(description.contains("advisory database is empty"), "{description}");
    let e = aws_err(
        &berth,
        "ecr",
        &["describe-image-scan-findings", "--repository-name", plain, "--image-id", "imageTag=v1"],
    );
    assert!(e.contains("ScanNotFoundException"), "{e}");

    // Archive: the pull fails until the image is restored.
    let archived = aws_ok(
        &berth,
        "ecr",
        &[
            "update-image-storage-class",
            "--repository-name",
            plain,
            "--image-id",
            "imageTag=v1",
            "--target-storage-class",
            "ARCHIVE",
        ],
    );
    assert_eq!(archived["imageStatus"], "ARCHIVED");
    let pulled = work.path().join("pulled");
    let e = pull(&berth, &creds, plain, &pulled).unwrap_err();
    assert!(e.contains("manifest unknown"), "{e}");
    let listed = aws_ok(&berth, "ecr", &["describe-images", "--repository-name", plain]);
    assert_eq!(listed["imageDetails"], json!([]));
    let listed =
        aws_ok(&berth, "ecr", &["describe-images", "--repository-name", plain, "--filter", "imageStatus=ARCHIVED"]);
    assert_eq!(listed["imageDetails"][0]["imageStatus"], "ARCHIVED");
    let restored = aws_ok(
        &berth,
        "ecr",
        &[
            "update-image-storage-class",
            "--repository-name",
            plain,
            "--image-id",
            "imageTag=v1",
            "--target-storage-class",
            "STANDARD",
        ],
    );
    assert_eq!(restored["imageStatus"], "ACTIVE");
    pull(&berth, &creds, plain, &pulled).unwrap();
    let subject_digest = restored["imageId"]["imageDigest"].as_str().unwrap().to_string();

    // A referrer pushed with a raw OCI PUT (an artifact whose subject is the image) is listed.
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}/v2/{plain}", berth.port);
    let (user, pass) = creds.split_once(':').unwrap();
    let empty = sha256(b"{}");
    let started = http.post(format!("{base}/blobs/uploads/?digest={empty}")).basic_auth(user, Some(pass)).body("{}");
    assert_eq!(started.send().await.unwrap().status(), 201);
    let subject = http.get(format!("{base}/manifests/{subject_digest}")).basic_auth(user, Some(pass));
    let subject_size = subject.send().await.unwrap().bytes().await.unwrap().len();
    let artifact = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject_digest, "size": subject_size},
        "annotations": {"org.example.kind": "sbom"}}))
    .unwrap();
    let put = http
        .put(format!("{base}/manifests/{}", sha256(&artifact)))
        .basic_auth(user, Some(pass))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(artifact.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let subject = format!("imageDigest={subject_digest}");
    let referrers =
        aws_ok(&berth, "ecr", &["list-image-referrers", "--repository-name", plain, "--subject-id", &subject]);
    assert_eq!(referrers["referrers"][0]["digest"], sha256(&artifact).as_str(), "{referrers}");
    assert_eq!(referrers["referrers"][0]["artifactType"], "application/vnd.example.sbom");
    assert_eq!(referrers["referrers"][0]["annotations"]["org.example.kind"], "sbom");
    let none = aws_ok(
        &berth,
        "ecr",
        &[
            "list-image-referrers",
            "--repository-name",
            plain,
            "--subject-id",
            &subject,
            "--filter",
            "artifactTypes=application/vnd.example.sig",
        ],
    );
    assert_eq!(none["referrers"], json!([]));

    // Registry policy, account settings, pull-time exclusions, DescribeRegistry.
    let account = berth.account_id.clone();
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Replication", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": format!("arn:aws:ecr:us-east-1:{account}:repository/*")}]})
    .to_string();
    let e = aws_err(&berth, "ecr", &["get-registry-policy"]);
    assert!(e.contains("RegistryPolicyNotFoundException"), "{e}");
    aws_ok(&berth, "ecr", &["put-account-setting", "--name", "REGISTRY_POLICY_SCOPE", "--value", "V1"]);
    aws_ok(&berth, "ecr", &["put-registry-policy", "--policy-text", &policy]);
    let pull_policy = policy.replace("ecr:ReplicateImage", "ecr:BatchGetImage");
    let e = aws_err(&berth, "ecr", &["put-registry-policy", "--policy-text", &pull_policy]);
    assert!(e.contains("InvalidParameterException") && e.contains("V1"), "{e}");
    let exclusion = format!("arn:aws:iam::{account}:role/ci");
    aws_ok(&berth, "ecr", &["register-pull-time-update-exclusion", "--principal-arn", &exclusion]);
    let e = aws_err(&berth, "ecr", &["register-pull-time-update-exclusion", "--principal-arn", &exclusion]);
    assert!(e.contains("ExclusionAlreadyExistsException"), "{e}");
    let registry = aws_ok(&berth, "ecr", &["describe-registry"]);
    assert_eq!(registry["registryId"], account.as_str());
    assert_eq!(registry["replicationConfiguration"]["rules"], json!([]));
    let e = aws_err(&berth, "ecr", &["get-signing-configuration"]);
    assert!(e.contains("SigningConfigurationNotFoundException"), "{e}");

    // All of it is in the store: a restarted server answers the same.
    berth.restart().unwrap();
    assert_eq!(aws_ok(&berth, "ecr", &["get-registry-policy"])["policyText"], policy.as_str());
    let scope = aws_ok(&berth, "ecr", &["get-account-setting", "--name", "REGISTRY_POLICY_SCOPE"]);
    assert_eq!(scope["value"], "V1");
    let exclusions = aws_ok(&berth, "ecr", &["list-pull-time-update-exclusions"]);
    assert_eq!(exclusions["pullTimeUpdateExclusions"], json!([exclusion]));
    let config = aws_ok(&berth, "ecr", &["get-registry-scanning-configuration"]);
    assert_eq!(config["scanningConfiguration"]["rules"][0]["repositoryFilters"][0]["filter"], "scan-*");
    aws_ok(&berth, "ecr", &["delete-registry-policy"]);
    aws_ok(&berth, "ecr", &["deregister-pull-time-update-exclusion", "--principal-arn", &exclusion]);
}

//! The ECR model walk: every operation of the installed ECR model (the botocore the pinned aws CLI brings) gets one
//! well-formed, SigV4-signed request against a real `berth server`. Each must work, except the operations of the
//! capabilities Berth's registry does not have yet (replication backfill, in newer models), which must answer
//! ValidationException naming their capability. The test prints the counts and the unsupported list.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use base64::Engine as _;
use berth_testkit::{Berth, BerthOptions};
use common::*;
use serde_json::{Value, json};

/// The operations of capabilities not built yet, with the words their refusal names (the backfill operations are
/// in newer models than the pinned CLI's; the generated shapes know them).
const NOT_BUILT: &[(&str, &str)] = &[
    ("StartReplicationBackfill", "replication backfill is not built"),
    ("StopReplicationBackfill", "replication backfill is not built"),
    ("DescribeReplicationBackfillResults", "replication backfill is not built"),
    ("ListReplicationBackfills", "replication backfill is not built"),
];

/// Creations first (in this order), destructive operations last; the rest in between.
const FIRST: &[&str] = &[
    "PutAccountSetting",
    "CreateRepository",
    "CreateRepositoryCreationTemplate",
    "CreatePullThroughCacheRule",
    "PutRegistryPolicy",
    "PutRegistryScanningConfiguration",
    "PutSigningConfiguration",
    "RegisterPullTimeUpdateExclusion",
    "SetRepositoryPolicy",
    "PutLifecyclePolicy",
    "InitiateLayerUpload",
    "UploadLayerPart",
    "CompleteLayerUpload",
    "PutImage",
    "TagResource",
    "StartImageScan",
    "StartLifecyclePolicyPreview",
];
const LAST: &[&str] = &[
    "UntagResource",
    "DeleteLifecyclePolicy",
    "DeleteRepositoryPolicy",
    "DeregisterPullTimeUpdateExclusion",
    "DeleteRegistryPolicy",
    "DeleteSigningConfiguration",
    "DeletePullThroughCacheRule",
    "DeleteRepositoryCreationTemplate",
    "BatchDeleteImage",
    "DeleteRepository",
];

const REPO: &str = "walk";

/// What the walk made, for later requests.
struct Walk {
    account: String,
    image: String,
    layer: String,
    upload_id: String,
    part: Vec<u8>,
}

async fn ecr(berth: &Berth, operation: &str, body: &Value) -> (u16, Value) {
    let target = format!("AmazonEC2ContainerRegistry_V20150921.{operation}");
    signed_request(berth, "ecr", Some(&target), &serde_json::to_vec(body).unwrap(), None, None, None).await
}

async fn must(berth: &Berth, operation: &str, body: Value) -> Value {
    let (status, answer) = ecr(berth, operation, &body).await;
    assert_eq!(status, 200, "{operation} {body}: {answer}");
    answer
}

/// Uploads a blob through the ECR layer API; its digest.
async fn upload(berth: &Berth, data: &[u8]) -> String {
    let started = must(berth, "InitiateLayerUpload", json!({"repositoryName": REPO})).await;
    let id = started["uploadId"].as_str().unwrap();
    let blob = base64::engine::general_purpose::STANDARD.encode(data);
    must(
        berth,
        "UploadLayerPart",
        json!({"repositoryName": REPO, "uploadId": id, "partFirstByte": 0, "partLastByte": data.len() - 1,
            "layerPartBlob": blob}),
    )
    .await;
    let digest = sha256(data);
    must(berth, "CompleteLayerUpload", json!({"repositoryName": REPO, "uploadId": id, "layerDigests": [digest]})).await;
    digest
}

/// The repository `walk` with image `v1` (pushed through the ECR API).
async fn setup(berth: &Berth) -> Walk {
    must(berth, "CreateRepository", json!({"repositoryName": REPO})).await;
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = upload(berth, config).await;
    let layer = b"not really a tar, but a blob all the same".to_vec();
    let layer_digest = upload(berth, &layer).await;
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}]
    })
    .to_string();
    must(berth, "PutImage", json!({"repositoryName": REPO, "imageManifest": manifest, "imageTag": "v1"})).await;
    Walk {
        account: berth.account_id.clone(),
        image: manifest,
        layer: layer_digest,
        upload_id: String::new(),
        part: b"a part uploaded by the walk".to_vec(),
    }
}

fn policy(account: &str, action: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "Walk", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": [action],
        "Resource": format!("arn:aws:ecr:us-east-1:{account}:repository/*")}]})
    .to_string()
}

/// The replication destination the walk's server is configured with (nothing listens there: the walk checks the
/// configuration and status operations, `ecr_replication.rs` checks replication itself).
const WALK_DESTINATION: (&str, &str) = ("us-west-2", "210987654321");

/// The signing profile the walk's server is configured with (`--signing-profile`, a key made for the walk).
const WALK_PROFILE: &str = "walk_profile";

/// The request for an operation the walk supports (`None` for the operations of capabilities not built yet).
fn request(operation: &str, w: &Walk) -> Option<Value> {
    let repo_arn = format!("arn:aws:ecr:us-east-1:{}:repository/{REPO}", w.account);
    let v1 = json!({"imageTag": "v1"});
    let lifecycle = json!({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged",
        "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30}, "action": {"type": "expire"}}]})
    .to_string();
    let digest = sha256(w.image.as_bytes());
    let scanning = json!([{"scanFrequency": "SCAN_ON_PUSH",
        "repositoryFilters": [{"filter": "walk*", "filterType": "WILDCARD"}]}]);
    let exclusion = format!("arn:aws:iam::{}:role/walk", w.account);
    Some(match operation {
        "PutAccountSetting" => json!({"name": "BLOB_MOUNTING", "value": "ENABLED"}),
        "GetAccountSetting" => json!({"name": "REGISTRY_POLICY_SCOPE"}),
        "CreateRepository" => json!({"repositoryName": "walk-new"}),
        "DeleteRepository" => json!({"repositoryName": "walk-new"}),
        "DescribeRepositories" => json!({}),
        "CreateRepositoryCreationTemplate" => json!({"prefix": "walk-tpl", "appliedFor": ["CREATE_ON_PUSH"]}),
        "UpdateRepositoryCreationTemplate" => json!({"prefix": "walk-tpl", "description": "walked"}),
        "DeleteRepositoryCreationTemplate" => json!({"prefix": "walk-tpl"}),
        "DescribeRepositoryCreationTemplates" => json!({}),
        "CreatePullThroughCacheRule" => {
            json!({"ecrRepositoryPrefix": "walk-ptc", "upstreamRegistryUrl": "http://127.0.0.1:1"})
        }
        "UpdatePullThroughCacheRule" | "ValidatePullThroughCacheRule" | "DeletePullThroughCacheRule" => {
            json!({"ecrRepositoryPrefix": "walk-ptc"})
        }
        "DescribePullThroughCacheRules" => json!({}),
        "PutRegistryPolicy" => json!({"policyText": policy(&w.account, "ecr:ReplicateImage")}),
        "GetRegistryPolicy" | "DeleteRegistryPolicy" | "DescribeRegistry" | "GetRegistryScanningConfiguration" => {
            json!({})
        }
        "PutRegistryScanningConfiguration" => json!({"scanType": "BASIC", "rules": scanning}),
        "BatchGetRepositoryScanningConfiguration" => json!({"repositoryNames": [REPO]}),
        "RegisterPullTimeUpdateExclusion" | "DeregisterPullTimeUpdateExclusion" => {
            json!({"principalArn": exclusion})
        }
        "ListPullTimeUpdateExclusions" => json!({}),
        "SetRepositoryPolicy" => json!({"repositoryName": REPO, "policyText": policy(&w.account, "ecr:BatchGetImage")}),
        "GetRepositoryPolicy" | "DeleteRepositoryPolicy" => json!({"repositoryName": REPO}),
        "PutLifecyclePolicy" => json!({"repositoryName": REPO, "lifecyclePolicyText": lifecycle}),
        "GetLifecyclePolicy" | "DeleteLifecyclePolicy" | "StartLifecyclePolicyPreview" => {
            json!({"repositoryName": REPO})
        }
        "GetLifecyclePolicyPreview" => json!({"repositoryName": REPO}),
        "InitiateLayerUpload" => json!({"repositoryName": REPO}),
        "UploadLayerPart" => json!({"repositoryName": REPO, "uploadId": w.upload_id, "partFirstByte": 0,
            "partLastByte": w.part.len() - 1,
            "layerPartBlob": base64::engine::general_purpose::STANDARD.encode(&w.part)}),
        "CompleteLayerUpload" => {
            json!({"repositoryName": REPO, "uploadId": w.upload_id, "layerDigests": [sha256(&w.part)]})
        }
        "BatchCheckLayerAvailability" => json!({"repositoryName": REPO, "layerDigests": [w.layer]}),
        "GetDownloadUrlForLayer" => json!({"repositoryName": REPO, "layerDigest": w.layer}),
        "PutImage" => json!({"repositoryName": REPO, "imageManifest": w.image, "imageTag": "v2"}),
        "BatchGetImage" => json!({"repositoryName": REPO, "imageIds": [v1]}),
        "BatchDeleteImage" => json!({"repositoryName": REPO, "imageIds": [{"imageTag": "v2"}]}),
        "DescribeImages" | "ListImages" => json!({"repositoryName": REPO}),
        "StartImageScan" | "DescribeImageScanFindings" => json!({"repositoryName": REPO, "imageId": v1}),
        "PutImageScanningConfiguration" => {
            json!({"repositoryName": REPO, "imageScanningConfiguration": {"scanOnPush": true}})
        }
        "PutImageTagMutability" => json!({"repositoryName": REPO, "imageTagMutability": "MUTABLE"}),
        "UpdateImageStorageClass" => {
            json!({"repositoryName": REPO, "imageId": v1, "targetStorageClass": "STANDARD"})
        }
        "ListImageReferrers" => json!({"repositoryName": REPO, "subjectId": {"imageDigest": digest}}),
        "TagResource" => json!({"resourceArn": repo_arn, "tags": [{"Key": "walk", "Value": "yes"}]}),
        "UntagResource" => json!({"resourceArn": repo_arn, "tagKeys": ["walk"]}),
        "ListTagsForResource" => json!({"resourceArn": repo_arn}),
        "GetAuthorizationToken" => json!({}),
        "PutReplicationConfiguration" => json!({"replicationConfiguration": {"rules": [{
            "destinations": [{"region": WALK_DESTINATION.0, "registryId": WALK_DESTINATION.1}],
            "repositoryFilters": [{"filter": "walk-replicated", "filterType": "PREFIX_MATCH"}]}]}}),
        "DescribeImageReplicationStatus" => json!({"repositoryName": REPO, "imageId": v1}),
        "PutSigningConfiguration" => json!({"signingConfiguration": {"rules": [{
            "signingProfileArn": format!("arn:aws:signer:us-east-1:{}:/signing-profiles/{WALK_PROFILE}", w.account),
            "repositoryFilters": [{"filter": "walk*", "filterType": "WILDCARD_MATCH"}]}]}}),
        "GetSigningConfiguration" | "DeleteSigningConfiguration" => json!({}),
        "DescribeImageSigningStatus" => json!({"repositoryName": REPO, "imageId": v1}),
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_of_the_installed_ecr_model_works_or_names_its_missing_capability() {
    let model = botocore_model("ecr/2015-09-21");
    let keys = tempfile::NamedTempFile::new().unwrap();
    let (region, account) = WALK_DESTINATION;
    std::fs::write(keys.path(), format!("{region}:{account} AKIAWALK walk-secret\n")).unwrap();
    let signing_key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(signing_key.path(), rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec![
            "--pull-through-upstream-allow".into(),
            "http://127.0.0.1:1".into(),
            "--replication-destination".into(),
            format!("{region}:{account}=http://127.0.0.1:1"),
            "--replication-credentials-file".into(),
            keys.path().display().to_string(),
            "--signing-profile".into(),
            format!("{WALK_PROFILE}={}", signing_key.path().display()),
        ],
    })
    .expect("berth server starts");
    let mut w = setup(&berth).await;

    let mut operations: Vec<String> = model["operations"].as_object().unwrap().keys().cloned().collect();
    let rank = |op: &str| match (FIRST.iter().position(|o| *o == op), LAST.iter().position(|o| *o == op)) {
        (Some(i), _) => i,
        (_, Some(i)) => 1000 + i,
        _ => 500,
    };
    operations.sort_by_key(|op| (rank(op), op.clone()));

    let (mut works, mut not_built, mut wrong) = (Vec::new(), Vec::new(), Vec::new());
    for op in &operations {
        let missing = NOT_BUILT.iter().find(|(o, _)| o == op);
        let body = match (request(op, &w), missing) {
            (Some(body), None) => body,
            (None, Some(_)) => json!({}),
            (Some(_), Some(_)) => panic!("{op} is both walked and listed as not built"),
            (None, None) => {
                wrong.push(format!("{op}: an operation of the model the walk has no request for"));
                continue;
            }
        };
        let (status, answer) = ecr(&berth, op, &body).await;
        let kind = answer["__type"].as_str().unwrap_or_default().rsplit('#').next().unwrap_or_default().to_string();
        let message = answer["message"].as_str().unwrap_or_default().to_string();
        match missing {
            None if status == 200 => {
                if op == "InitiateLayerUpload" {
                    w.upload_id = answer["uploadId"].as_str().unwrap().to_string();
                }
                works.push(op.clone());
            }
            Some((_, words)) if kind == "ValidationException" && message.contains(words) => {
                not_built.push(format!("{op}: {message}"));
            }
            _ => wrong.push(format!("{op} {body} -> {status} {kind}: {message}")),
        }
    }
    println!("ECR model walk: {} operations in the installed model", operations.len());
    println!("  {} work", works.len());
    println!("  {} answer ValidationException naming a capability not built yet:", not_built.len());
    for n in &not_built {
        println!("    {n}");
    }
    assert!(wrong.is_empty(), "{} operations answered wrongly:\n{}", wrong.len(), wrong.join("\n"));
    let in_model = NOT_BUILT.iter().filter(|(op, _)| operations.iter().any(|o| o == op)).count();
    assert_eq!(not_built.len(), in_model);
    assert_eq!(works.len() + not_built.len(), operations.len());
}

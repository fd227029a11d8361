//! ECR replication between two real `berth server`s on one machine (each its own account): the source's
//! replication configuration names the destination (mapped to its URL and root key pair by
//! `--replication-destination` and `--replication-credentials-file`) and a destination whose server is down; an
//! image pushed with skopeo to a matching repository reaches the destination (same digest, pulled back with
//! skopeo) and so does a tag put with PutImage, one in a repository no filter matches does not, and the one bound for the down server ends FAILED with
//! the reason, as does one the destination's registry policy does not allow the source account. The repository the
//! replication creates takes the destination's REPLICATION creation template (immutable tags, a lifecycle policy,
//! resource tags) while an ordinary CreateRepository there keeps the defaults. The configuration and statuses
//! survive a restart of the source.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions, free_port};
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

fn creds(berth: &Berth) -> String {
    format!("AWS:{}", aws_cli(berth, &["ecr", "get-login-password"]).trim())
}

fn status_of(berth: &Berth, repo: &str) -> Value {
    aws_ok(berth, "ecr", &["describe-image-replication-status", "--repository-name", repo, "--image-id", "imageTag=v1"])
}

/// Waits until the image's status for `registry_id` is `want`; the status entry.
async fn wait_status(berth: &Berth, repo: &str, registry_id: &str, want: &str) -> Value {
    // Each poll runs the aws CLI (most of a second): 60 polls are about a minute; FAILED takes about 7 s.
    for _ in 0..60 {
        let out = status_of(berth, repo);
        let found =
            out["replicationStatuses"].as_array().unwrap().iter().find(|s| s["registryId"] == registry_id).cloned();
        if let Some(entry) = &found
            && entry["status"] == want
        {
            return entry.clone();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{repo}: no {want} for {registry_id}: {}", status_of(berth, repo));
}

fn server(extra_args: Vec<String>) -> Berth {
    Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "server", extra_args })
        .expect("berth server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_images_replicate_to_another_berth_server() {
    let work = tempfile::tempdir().unwrap();
    let destination = server(Vec::new());
    let down_account = "999999999999";
    let down = format!("us-west-2:{down_account}=http://127.0.0.1:{}", free_port());
    let dest_name = format!("us-east-1:{}", destination.account_id);
    let keys = work.path().join("replication-keys");
    std::fs::write(
        &keys,
        format!(
            "# destination servers' keys\n{dest_name} {} {}\nus-west-2:{down_account} AKIADOWN secret-down\n",
            destination.access_key_id, destination.secret_access_key
        ),
    )
    .unwrap();
    let mut source = server(vec![
        "--replication-destination".into(),
        format!("{dest_name}={}", destination.url()),
        "--replication-destination".into(),
        down,
        "--replication-credentials-file".into(),
        keys.display().to_string(),
    ]);

    // Refusals: the registry itself, and a destination no server is configured for.
    let rules = |region: &str, account: &str| {
        json!({"rules": [{"destinations": [{"region": region, "registryId": account}]}]}).to_string()
    };
    let e = aws_err(
        &source,
        "ecr",
        &["put-replication-configuration", "--replication-configuration", &rules("us-east-1", &source.account_id)],
    );
    assert!(e.contains("InvalidParameterException") && e.contains("itself"), "{e}");
    let e = aws_err(
        &source,
        "ecr",
        &["put-replication-configuration", "--replication-configuration", &rules("eu-west-1", "123456789012")],
    );
    assert!(e.contains("InvalidParameterException") && e.contains("--replication-destination"), "{e}");

    // The destination is another account: its registry policy must allow the source's account to replicate into
    // prod-* (and nothing else).
    let registry_policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Replication", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:root", source.account_id)},
        "Action": ["ecr:ReplicateImage", "ecr:CreateRepository"],
        "Resource": format!("arn:aws:ecr:us-east-1:{}:repository/prod-*", destination.account_id)}]});
    aws_ok(&destination, "ecr", &["put-registry-policy", "--policy-text", &registry_policy.to_string()]);

    // The destination's REPLICATION creation template (ROOT: the replicated names have no `/`).
    let lifecycle = json!({"rules": [{"rulePriority": 1, "description": "old untagged", "selection": {
        "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30},
        "action": {"type": "expire"}}]});
    let template_tags = json!([{"Key": "replicated", "Value": "yes"}, {"Key": "team", "Value": "web"}]);
    aws_ok(
        &destination,
        "ecr",
        &[
            "create-repository-creation-template",
            "--prefix",
            "ROOT",
            "--applied-for",
            "REPLICATION",
            "--image-tag-mutability",
            "IMMUTABLE",
            "--lifecycle-policy",
            &lifecycle.to_string(),
            "--resource-tags",
            &template_tags.to_string(),
        ],
    );

    let config = json!({"rules": [
        {"destinations": [{"region": "us-east-1", "registryId": destination.account_id}],
         "repositoryFilters": [{"filter": "prod", "filterType": "PREFIX_MATCH"}]},
        {"destinations": [{"region": "us-west-2", "registryId": down_account}],
         "repositoryFilters": [{"filter": "flaky", "filterType": "PREFIX_MATCH"}]}]});
    let put =
        aws_ok(&source, "ecr", &["put-replication-configuration", "--replication-configuration", &config.to_string()]);
    assert_eq!(put["replicationConfiguration"], config);
    assert_eq!(aws_ok(&source, "ecr", &["describe-registry"])["replicationConfiguration"], config);

    // Push the same image to three repositories of the source.
    let layout = work.path().join("layout");
    oci_layout(&layout, "replicated\n");
    let source_creds = creds(&source);
    let (replicated, local, flaky, refused) = ("prod-web", "dev-web", "flaky-web", "production");
    for repo in [replicated, local, flaky, refused] {
        aws_ok(&source, "ecr", &["create-repository", "--repository-name", repo]);
        let dest = format!("docker://127.0.0.1:{}/{repo}:v1", source.port);
        let from = format!("oci:{}:v1", layout.display());
        skopeo(&["copy", "--dest-tls-verify=false", "--dest-creds", &source_creds, &from, &dest]).unwrap();
    }
    let pushed = aws_ok(&source, "ecr", &["describe-images", "--repository-name", replicated]);
    let digest = pushed["imageDetails"][0]["imageDigest"].as_str().unwrap().to_string();

    // prod-web reaches the destination (which creates the repository): the same digest, pulled back with skopeo.
    let complete = wait_status(&source, replicated, &destination.account_id, "COMPLETE").await;
    assert_eq!(complete["region"], "us-east-1");
    assert!(complete.get("failureCode").is_none(), "{complete}");
    let remote = format!("docker://127.0.0.1:{}/{replicated}:v1", destination.port);
    let dest_creds = creds(&destination);
    let inspected: Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", "--creds", &dest_creds, &remote]).unwrap())
            .unwrap();
    assert_eq!(inspected["Digest"], digest.as_str());
    let pulled = work.path().join("pulled");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &dest_creds,
        &remote,
        &format!("dir:{}", pulled.display()),
    ])
    .unwrap();
    let manifest = std::fs::read(pulled.join("manifest.json")).unwrap();
    assert_eq!(sha256(&manifest), digest);

    // The replicated repository was created from the destination's REPLICATION template.
    let described = aws_ok(&destination, "ecr", &["describe-repositories", "--repository-names", replicated]);
    let repository = &described["repositories"][0];
    assert_eq!(repository["imageTagMutability"], "IMMUTABLE", "{repository}");
    let got = aws_ok(&destination, "ecr", &["get-lifecycle-policy", "--repository-name", replicated]);
    let got: Value = serde_json::from_str(got["lifecyclePolicyText"].as_str().unwrap()).unwrap();
    assert_eq!(got["rules"][0]["selection"], lifecycle["rules"][0]["selection"]);
    let arn = repository["repositoryArn"].as_str().unwrap();
    let tags = aws_ok(&destination, "ecr", &["list-tags-for-resource", "--resource-arn", arn]);
    assert_eq!(tags["tags"], template_tags);
    // An ordinary CreateRepository at the destination (no replication header) keeps the defaults.
    let plain = aws_ok(&destination, "ecr", &["create-repository", "--repository-name", "prod-plain"]);
    assert_eq!(plain["repository"]["imageTagMutability"], "MUTABLE");
    let e = aws_err(&destination, "ecr", &["get-lifecycle-policy", "--repository-name", "prod-plain"]);
    assert!(e.contains("LifecyclePolicyNotFoundException"), "{e}");

    // PutImage (the ECR API) replicates too: a new tag for the same manifest reaches the destination.
    let manifest_text = String::from_utf8(manifest).unwrap();
    aws_ok(
        &source,
        "ecr",
        &["put-image", "--repository-name", replicated, "--image-tag", "v2", "--image-manifest", &manifest_text],
    );
    let mut tagged = None;
    for _ in 0..60 {
        let out = aws_json(
            &destination,
            "ecr",
            &["describe-images", "--repository-name", replicated, "--image-ids", "imageTag=v2"],
            &[],
        );
        if let Ok(out) = out {
            tagged = Some(out);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let tagged = tagged.expect("the tag put with PutImage reaches the destination");
    assert_eq!(tagged["imageDetails"][0]["imageDigest"], digest.as_str());

    // dev-web matches no rule: nothing is recorded and the destination has no such repository.
    assert_eq!(status_of(&source, local)["replicationStatuses"], json!([]));
    let e = aws_err(&destination, "ecr", &["describe-repositories", "--repository-names", local]);
    assert!(e.contains("RepositoryNotFoundException"), "{e}");

    // flaky-web's destination is down: retried, then FAILED with the reason.
    let failed = wait_status(&source, flaky, down_account, "FAILED").await;
    let reason = failed["failureCode"].as_str().unwrap();
    assert!(reason.contains("could not be reached"), "{reason}");

    // "production" matches the rule, but the destination's registry policy covers only prod-*.
    let failed = wait_status(&source, refused, &destination.account_id, "FAILED").await;
    let reason = failed["failureCode"].as_str().unwrap();
    assert!(reason.contains("does not allow ecr:ReplicateImage"), "{reason}");
    let e = aws_err(&destination, "ecr", &["describe-repositories", "--repository-names", refused]);
    assert!(e.contains("RepositoryNotFoundException"), "{e}");

    // Unknown images.
    let e = aws_err(
        &source,
        "ecr",
        &["describe-image-replication-status", "--repository-name", replicated, "--image-id", "imageTag=nope"],
    );
    assert!(e.contains("ImageNotFoundException"), "{e}");

    // The configuration and the statuses are in the store.
    source.restart().unwrap();
    assert_eq!(aws_ok(&source, "ecr", &["describe-registry"])["replicationConfiguration"], config);
    let after = status_of(&source, replicated);
    assert_eq!(after["replicationStatuses"][0]["status"], "COMPLETE", "{after}");
}

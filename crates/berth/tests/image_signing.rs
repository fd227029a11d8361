//! ECR managed signing end to end: `berth up` with an operator's signing profile (`--signing-profile`) and a local
//! agent that requires signed images (`--require-signed-images`). The signing configuration is put with the aws
//! CLI, the workload image is pushed with skopeo to a repository a rule matches and to one no rule matches, the
//! signed one becomes COMPLETE, both signatures (Notation and cosign) are fetched through the OCI referrers API and
//! verified with `berth-signature` against the operator's certificate, and then the agent runs the signed image and
//! refuses the unsigned one with its reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly
#![allow(clippy::disallowed_methods)] // the test measures and verifies with the real clock

mod common;

use aws_sdk_ecs::types::ContainerDefinition;
use base64::Engine as _;
use berth_signature::{Format, TrustStore, verify_artifact};
use berth_testkit::{Berth, BerthOptions, wait_for};
use common::*;
use serde_json::Value;
use std::time::Duration;

/// A self-signed code-signing certificate and its key, written as PEM into `dir`: (key path, certificate path).
fn operator_key(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    let cert = params.self_signed(&key).unwrap();
    let (key_path, cert_path) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pem")));
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    (key_path, cert_path)
}

/// GETs `/v2/...` from Berth's registry with Basic credentials.
async fn registry_get(berth: &Berth, password: &str, path: &str, accept: &str) -> Vec<u8> {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", berth.url()))
        .basic_auth("AWS", Some(password))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "GET {path}: {}", response.status());
    response.bytes().await.unwrap().to_vec()
}

async fn run_task(client: &aws_sdk_ecs::Client, family: &str, image: &str) -> String {
    let container = ContainerDefinition::builder().name("app").image(image).memory(64).build();
    client.register_task_definition().family(family).container_definitions(container).send().await.unwrap();
    let out = client.run_task().task_definition(family).send().await.unwrap();
    out.tasks()[0].task_arn().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_signed_on_push_and_the_agent_runs_only_signed_ones() {
    berth_testkit::require_docker();
    let workload = berth_testkit::workload_image().expect("the workload image builds");
    let keys = tempfile::tempdir().unwrap();
    let (key, cert) = operator_key(keys.path(), "berth-test-signer");
    let (_, stranger) = operator_key(keys.path(), "stranger");
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: vec![
            "--signing-profile".into(),
            format!("prod={},{}", key.display(), cert.display()),
            "--require-signed-images".into(),
            cert.display().to_string(),
        ],
    })
    .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;

    // The configuration: none yet, bad ones refused at the call, then a rule for `signed-*`.
    let e = aws_err(&berth, "ecr", &["get-signing-configuration"]);
    assert!(e.contains("SigningConfigurationNotFoundException"), "{e}");
    let arn = |name: &str| format!("arn:aws:signer:us-east-1:{}:/signing-profiles/{name}", berth.account_id);
    let config = |arn: &str| {
        serde_json::json!({"rules": [{"signingProfileArn": arn,
            "repositoryFilters": [{"filter": "signed-*", "filterType": "WILDCARD_MATCH"}]}]})
        .to_string()
    };
    let e = aws_err(&berth, "ecr", &["put-signing-configuration", "--signing-configuration", &config("arn:aws:nope")]);
    assert!(e.contains("ValidationException"), "{e}");
    let e = aws_err(&berth, "ecr", &["put-signing-configuration", "--signing-configuration", &config(&arn("other"))]);
    assert!(e.contains("InvalidParameterException") && e.contains("no signing profile named \"other\""), "{e}");
    let put = aws_ok(&berth, "ecr", &["put-signing-configuration", "--signing-configuration", &config(&arn("prod"))]);
    assert_eq!(put["signingConfiguration"]["rules"][0]["signingProfileArn"], arn("prod"));
    let got = aws_ok(&berth, "ecr", &["get-signing-configuration"]);
    assert_eq!(got["signingConfiguration"], put["signingConfiguration"]);
    assert_eq!(got["registryId"], berth.account_id.as_str());

    // Push the workload image to a matching and to a non-matching repository.
    let password = aws_cli(&berth, &["ecr", "get-login-password"]).trim().to_string();
    let host = format!("127.0.0.1:{}", berth.port);
    for repo in ["signed-app", "plain-app"] {
        aws_ok(&berth, "ecr", &["create-repository", "--repository-name", repo]);
        let dest = format!("docker://{host}/{repo}:v1");
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("AWS:{password}"),
            &format!("docker-daemon:{workload}"),
            &dest,
        ])
        .unwrap();
    }
    let pushed = std::time::Instant::now();
    let status = |repo: &str| {
        aws_ok(
            &berth,
            "ecr",
            &["describe-image-signing-status", "--repository-name", repo, "--image-id", "imageTag=v1"],
        )
    };
    let signed = wait_for("the image to be signed", Duration::from_secs(20), || async {
        let out = status("signed-app");
        (out["signingStatuses"][0]["status"] == "COMPLETE").then_some(out)
    })
    .await
    .unwrap();
    let signed_in = pushed.elapsed();
    assert_eq!(signed["signingStatuses"].as_array().unwrap().len(), 1, "{signed}");
    assert_eq!(signed["signingStatuses"][0]["signingProfileArn"], arn("prod"));
    let digest = signed["imageId"]["imageDigest"].as_str().unwrap().to_string();
    assert_eq!(status("plain-app")["signingStatuses"], serde_json::json!([]));

    // The signatures are the image's referrers, through the ECR API and the OCI referrers API.
    let listed = aws_ok(
        &berth,
        "ecr",
        &["list-image-referrers", "--repository-name", "signed-app", "--subject-id", &format!("imageDigest={digest}")],
    );
    let mut types: Vec<String> = listed["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["artifactType"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    assert_eq!(types, [Format::Notation.artifact_type(), Format::Cosign.artifact_type()]);
    let index = registry_get(
        &berth,
        &password,
        &format!("/v2/signed-app/referrers/{digest}"),
        "application/vnd.oci.image.index.v1+json",
    )
    .await;
    let index: Value = serde_json::from_slice(&index).unwrap();
    let trust = TrustStore::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let untrusted = TrustStore::from_pem(&std::fs::read(&stranger).unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut formats = Vec::new();
    for referrer in index["manifests"].as_array().unwrap() {
        let sig = referrer["digest"].as_str().unwrap();
        let manifest =
            registry_get(&berth, &password, &format!("/v2/signed-app/manifests/{sig}"), berth_signature::OCI_MANIFEST)
                .await;
        let parsed: Value = serde_json::from_slice(&manifest).unwrap();
        let layer = parsed["layers"][0]["digest"].as_str().unwrap().to_string();
        let blob = registry_get(&berth, &password, &format!("/v2/signed-app/blobs/{layer}"), "*/*").await;
        let fetch = |_: &berth_signature::Descriptor| Ok(blob.clone());
        let verified = verify_artifact(&manifest, &digest, &trust, now, fetch).unwrap();
        assert!(verified.signer.contains("berth-test-signer"), "{}", verified.signer);
        assert!(verify_artifact(&manifest, &digest, &untrusted, now, fetch).is_err());
        if verified.format == Format::Notation {
            let envelope: Value = serde_json::from_slice(&blob).unwrap();
            let protected = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(envelope["protected"].as_str().unwrap())
                .unwrap();
            let protected: Value = serde_json::from_slice(&protected).unwrap();
            assert_eq!(protected["io.cncf.notary.signingScheme"], "notary.x509");
        }
        // Signatures are not signed again.
        let own = aws_ok(
            &berth,
            "ecr",
            &[
                "describe-image-signing-status",
                "--repository-name",
                "signed-app",
                "--image-id",
                &format!("imageDigest={sig}"),
            ],
        );
        assert_eq!(own["signingStatuses"], serde_json::json!([]), "{own}");
        formats.push(verified.format);
    }
    formats.sort();
    assert_eq!(formats, [Format::Notation, Format::Cosign]);

    // The agent runs the signed image and refuses the unsigned one.
    let good = run_task(&client, "signed", &format!("{host}/signed-app:v1")).await;
    let bad = run_task(&client, "unsigned", &format!("{host}/plain-app:v1")).await;
    let running = wait_status(&client, &good, "RUNNING", Duration::from_secs(60)).await;
    assert_eq!(running.last_status(), Some("RUNNING"));
    let stopped = wait_status(&client, &bad, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(stopped.stop_code().map(|c| c.as_str()), Some("TaskFailedToStart"));
    let reason = stopped.containers()[0].reason().unwrap_or_default().to_string();
    assert!(
        reason.starts_with("CannotPullContainerError:") && reason.contains("is not signed by a trusted key"),
        "{reason}"
    );
    assert!(reason.contains("it has no signature"), "{reason}");
    client.stop_task().task(&good).send().await.unwrap();

    // The configuration survives a restart, and Delete removes it.
    let mut berth = berth;
    berth.restart().unwrap();
    assert_eq!(
        aws_ok(&berth, "ecr", &["get-signing-configuration"])["signingConfiguration"],
        put["signingConfiguration"]
    );
    let deleted = aws_ok(&berth, "ecr", &["delete-signing-configuration"]);
    assert_eq!(deleted["signingConfiguration"], put["signingConfiguration"]);
    let e = aws_err(&berth, "ecr", &["delete-signing-configuration"]);
    assert!(e.contains("SigningConfigurationNotFoundException"), "{e}");
    println!(
        "COMPLETE {:.2} s after the push (aws CLI polls included); the unsigned image was refused: {reason}",
        signed_in.as_secs_f64()
    );
}

use super::*;
use berth_model::ecr::{SigningRepositoryFilter, SigningRepositoryFilterType, SigningRule};

const ARN: &str = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/prod_signer";

fn rule(arn: &str, filters: Option<&[&str]>) -> SigningRule {
    SigningRule {
        signing_profile_arn: arn.to_string(),
        repository_filters: filters.map(|f| {
            f.iter()
                .map(|f| SigningRepositoryFilter {
                    filter: f.to_string(),
                    filter_type: SigningRepositoryFilterType::WildcardMatch,
                })
                .collect()
        }),
    }
}

fn profile(name: &str) -> SigningProfile {
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let cert = Signer::self_signed_certificate(&key, name, 1_790_000_000).unwrap();
    SigningProfile { name: name.to_string(), signer: Arc::new(Signer::new(&key, &cert).unwrap()) }
}

#[test]
fn profile_arns_follow_the_model_pattern() {
    assert_eq!(parse_profile_arn(ARN), Some(("aws", "us-east-1", "123456789012", "prod_signer")));
    assert!(parse_profile_arn("arn:aws-cn:signer:cn-north-1:123456789012:/signing-profiles/ab").is_some());
    for bad in [
        "arn:aws:signer:us-east-1:123456789012:/signing-profiles/a",
        "arn:aws:signer:us-east-1:12345678901:/signing-profiles/ab",
        "arn:aws:kms:us-east-1:123456789012:/signing-profiles/ab",
        "arn:aws:signer:us-east-1:123456789012:signing-profiles/ab",
        "arn:aws:signer:us-east-1:123456789012:/signing-profiles/a-b",
        "arn:awsx:signer:us-east-1:123456789012:/signing-profiles/ab",
        "arn:aws-:signer:us-east-1:123456789012:/signing-profiles/ab",
    ] {
        assert!(parse_profile_arn(bad).is_none(), "{bad}");
    }
    assert!(parse_profile_arn(&format!("{ARN}{}", "x".repeat(200))).is_none());
}

#[test]
fn filters_follow_the_model_pattern() {
    for good in ["app", "*", "team/*", "*prod*", "a.b_c-d/e*"] {
        assert!(filter_ok(good), "{good}");
    }
    for bad in ["", "App", "a//b", "a/", "a..b", "-a", "a b"] {
        assert!(!filter_ok(bad), "{bad}");
    }
}

#[test]
fn configurations_are_checked() {
    let known = [profile("prod_signer")];
    let check = |rules: Vec<SigningRule>| {
        check_configuration(&SigningConfiguration { rules }, "us-east-1", "123456789012", &known)
    };
    assert_eq!(check(vec![]), Ok(()));
    assert_eq!(check(vec![rule(ARN, Some(&["team/*"]))]), Ok(()));
    assert!(
        matches!(check(vec![rule("nope", None)]), Err(ConfigProblem::Constraint(m)) if m.contains("signingProfileArn"))
    );
    assert!(matches!(check(vec![rule(ARN, Some(&[]))]), Err(ConfigProblem::Constraint(_))));
    assert!(matches!(check(vec![rule(ARN, Some(&["Bad"]))]), Err(ConfigProblem::Constraint(m)) if m.contains("'Bad'")));
    assert!(matches!(check(vec![rule(ARN, None); 11]), Err(ConfigProblem::Constraint(_))));
    let unknown = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/other";
    assert!(
        matches!(check(vec![rule(unknown, None)]), Err(ConfigProblem::Invalid(m)) if m.contains("--signing-profile other="))
    );
    let elsewhere = "arn:aws:signer:eu-west-1:123456789012:/signing-profiles/prod_signer";
    assert!(matches!(check(vec![rule(elsewhere, None)]), Err(ConfigProblem::Invalid(m)) if m.contains("region")));
}

#[test]
fn matching_rules_name_each_profile_once() {
    let other = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/other";
    let config = SigningConfiguration {
        rules: vec![rule(ARN, Some(&["team/*"])), rule(other, Some(&["*prod*"])), rule(ARN, None)],
    };
    assert_eq!(profiles_for(&config, "team/web"), vec![ARN.to_string()]);
    assert_eq!(profiles_for(&config, "team/prod-web"), vec![ARN.to_string(), other.to_string()]);
    let filtered = SigningConfiguration { rules: vec![rule(ARN, Some(&["team/*"]))] };
    assert!(profiles_for(&filtered, "web").is_empty());
}

#[test]
fn profile_specs_and_self_signed_certificates() {
    assert_eq!(parse_profile_spec("prod=k.pem").unwrap(), ("prod".into(), "k.pem".into(), None));
    assert_eq!(parse_profile_spec("prod=k.pem,c.pem").unwrap().2.as_deref(), Some("c.pem"));
    for bad in ["prod", "p=k.pem", "pr-od=k.pem", "prod=", "prod=k.pem,"] {
        assert!(parse_profile_spec(bad).is_err(), "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let spec = format!("prod={}", key.display());
    let kept = dir.path().join("profiles");
    let first = load_profiles(std::slice::from_ref(&spec), &kept, 1_790_000_000).unwrap();
    let cert = std::fs::read_to_string(kept.join("prod.pem")).unwrap();
    assert_eq!(first[0].signer.certificate_pem(), cert);
    // A restart keeps the same certificate, so agents that trust it keep trusting the profile.
    let again = load_profiles(std::slice::from_ref(&spec), &kept, 1_790_000_100).unwrap();
    assert_eq!(again[0].signer.chain(), first[0].signer.chain());
    assert!(load_profiles(&[spec.clone(), spec], &kept, 0).unwrap_err().contains("twice"));
    let missing = format!("prod={}", dir.path().join("nope.pem").display());
    assert!(load_profiles(&[missing], &kept, 0).unwrap_err().contains("reading"));
}

mod on_push {
    use super::*;
    use crate::digest::{Algorithm, Digest};
    use crate::ecr::Caller;
    use crate::images::PushMode;
    use crate::meta::records::RepositoryRecord;
    use crate::storage::{BlobStore, MemoryBlobStore};
    use crate::uploads::Chunk;
    use crate::{Registry, RegistryConfig};
    use berth_model::clock::ManualClock;
    use berth_model::ecr::{ImageTagMutability, SigningStatus};
    use berth_signature::{Format, TrustStore, verify_artifact};
    use berth_store::MemoryStore;
    use serde_json::json;

    const ACCOUNT: &str = "000000000000";

    async fn open(
        profiles: Vec<SigningProfile>,
        store: berth_store::SharedStore,
        blobs: Arc<dyn BlobStore>,
    ) -> Arc<Registry> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RegistryConfig::new(dir.path(), "us-east-1", ACCOUNT, "127.0.0.1:1");
        config.signing_profiles = profiles;
        let clock = Arc::new(ManualClock::new(1_790_000_000.0));
        Registry::open_with(config, store, clock, blobs).await.unwrap()
    }

    async fn create_repo(r: &Registry, name: &str) {
        r.create_repository(RepositoryRecord {
            name: name.into(),
            created_at: 0.0,
            image_tag_mutability: ImageTagMutability::Mutable,
            exclusion_filters: vec![],
            scan_on_push: false,
            encryption: None,
            tags: vec![],
            lifecycle_policy: None,
            lifecycle_evaluated_at: None,
            policy: None,
        })
        .await
        .unwrap();
    }

    /// Pushes a one-config image (`marker` makes it unique) to `repo:tag`; its digest.
    async fn push(r: &Registry, repo: &str, marker: &str, tag: &str) -> String {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"marker":"{marker}"}}"#
        );
        let digest = berth_signature::sha256_digest(config.as_bytes());
        let upload = r.upload_start(repo, Algorithm::Sha256).await.unwrap();
        let chunk = Chunk::bytes(None, bytes::Bytes::from(config.clone()));
        r.upload_finish(repo, &upload.id, &Digest::parse(&digest).unwrap(), Some(chunk), false).await.unwrap();
        let manifest = json!({"schemaVersion": 2, "mediaType": berth_signature::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": config.len()},
            "layers": []})
        .to_string();
        let out = r
            .put_manifest(
                repo,
                manifest.as_bytes(),
                Some(berth_signature::OCI_MANIFEST),
                None,
                &[tag.to_string()],
                PushMode::Idempotent,
            )
            .await
            .unwrap();
        out.digest.to_string()
    }

    async fn wait_status(r: &Registry, repo: &str, digest: &str, want: SigningStatus) -> status::ProfileState {
        for _ in 0..200 {
            let record = r.signing_status(repo, digest).await.unwrap();
            if let Some(state) = record.profiles.values().next()
                && state.status == want
            {
                return state.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("{repo}@{digest} never became {want}");
    }

    fn caller() -> Caller {
        Caller {
            access_key_id: "AKID".into(),
            account_id: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:root"),
            replication_source: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pushes_are_signed_in_both_formats_and_a_missing_profile_fails() {
        let store: berth_store::SharedStore = Arc::new(MemoryStore::new());
        let blobs: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
        let prod = profile("prod");
        let trust = TrustStore::from_der(prod.signer.chain().to_vec()).unwrap();
        let r = open(vec![prod], store.clone(), blobs.clone()).await;
        for repo in ["team/app", "other"] {
            create_repo(&r, repo).await;
        }
        let arn = format!("arn:aws:signer:us-east-1:{ACCOUNT}:/signing-profiles/prod");
        let body = json!({"signingConfiguration": {"rules": [{"signingProfileArn": arn,
            "repositoryFilters": [{"filter": "team/*", "filterType": "WILDCARD_MATCH"}]}]}});
        r.ecr("PutSigningConfiguration", body.to_string().as_bytes(), &caller()).await.unwrap();

        let digest = push(&r, "team/app", "one", "v1").await;
        let done = wait_status(&r, "team/app", &digest, SigningStatus::Complete).await;
        assert_eq!(done.signatures.len(), 2);
        // The same image pushed again keeps its signatures rather than getting two more.
        assert_eq!(push(&r, "team/app", "one", "v1-again").await, digest);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(r.signing_status("team/app", &digest).await.unwrap().profiles[&arn].signatures, done.signatures);
        let other = push(&r, "other", "one", "v1").await;
        assert!(r.signing_status("other", &other).await.unwrap().profiles.is_empty(), "no rule matches");

        // Both signatures are referrers of the image, verify against the profile's certificate, and are not
        // signed themselves.
        let referrers: Vec<(String, Option<String>, bytes::Bytes)> = {
            let state = r.index.read();
            state
                .repo("team/app")
                .unwrap()
                .images
                .values()
                .filter(|i| i.record.subject.as_deref() == Some(digest.as_str()))
                .map(|i| (i.record.digest.clone(), i.record.artifact_type.clone(), i.manifest.clone()))
                .collect()
        };
        let mut formats = Vec::new();
        for (sig, _, manifest) in &referrers {
            let parsed: serde_json::Value = serde_json::from_slice(manifest).unwrap();
            let layer = Digest::parse(parsed["layers"][0]["digest"].as_str().unwrap()).unwrap();
            let content = blobs.read_all(&layer, 1 << 20).await.unwrap().unwrap().to_vec();
            let verified = verify_artifact(manifest, &digest, &trust, 1_790_000_100, |_| Ok(content.clone())).unwrap();
            formats.push(verified.format);
            assert!(r.signing_status("team/app", sig).await.unwrap().profiles.is_empty());
        }
        formats.sort();
        assert_eq!(formats, [Format::Notation, Format::Cosign]);
        let status = r
            .ecr(
                "DescribeImageSigningStatus",
                br#"{"repositoryName":"team/app","imageId":{"imageTag":"v1"}}"#,
                &caller(),
            )
            .await
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&status).unwrap();
        assert_eq!(status["signingStatuses"], json!([{"signingProfileArn": arn, "status": "COMPLETE"}]));

        // A server restarted without the profile keeps the rule but cannot sign: FAILED, saying why.
        drop(r);
        let r = open(Vec::new(), store, blobs).await;
        let digest = push(&r, "team/app", "two", "v2").await;
        let failed = wait_status(&r, "team/app", &digest, SigningStatus::Failed).await;
        assert_eq!(failed.failure_code.as_deref(), Some(run::PROFILE_NOT_FOUND));
        assert!(failed.failure_reason.unwrap().contains("\"prod\""));
    }
}

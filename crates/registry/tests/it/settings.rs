//! Registry-wide settings end to end over HTTP: the registry scanning configuration (scan on push by a registry
//! rule, continuous re-scans when advisories change), archive and restore, pull-time update exclusions, referrers,
//! the registry policy and the account settings.

use crate::common::image::{self, Entry, OCI_MANIFEST};
use crate::common::{ACCOUNT, Oci, TestServer, oci_code};
use serde_json::{Value, json};
use std::time::Duration;

const DPKG_STATUS: &str =
    "Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2\n\n";

fn debian_image(label: &str) -> image::TestImage {
    let layer = image::layer(&[
        Entry("etc/", None),
        Entry("etc/os-release", Some(b"ID=debian\nVERSION_ID=\"12\"\n")),
        Entry("var/lib/dpkg/status", Some(DPKG_STATUS.as_bytes())),
        Entry("etc/label", Some(label.as_bytes())),
    ]);
    image::image(vec![layer], OCI_MANIFEST, label)
}

fn openssl_advisory(dir: &std::path::Path) {
    let advisory = json!({
        "id": "DSA-5678-1", "aliases": ["CVE-2024-0727"], "summary": "openssl: denial of service",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}]
    });
    std::fs::write(dir.join("DSA-5678-1.json"), serde_json::to_vec(&advisory).unwrap()).unwrap();
}

async fn scan_of(server: &TestServer, repo: &str, digest: &str) -> (u16, Value) {
    server.ecr("DescribeImageScanFindings", json!({"repositoryName": repo, "imageId": {"imageDigest": digest}})).await
}

/// Waits until the image's scan is complete and `done` holds for it.
async fn wait_scan(server: &TestServer, repo: &str, digest: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let (status, out) = scan_of(server, repo, digest).await;
        if status == 200 && out["imageScanStatus"]["status"] == "COMPLETE" && done(&out) {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the scan of {digest} in {repo} did not finish as expected: {:?}", scan_of(server, repo, digest).await);
}

fn err(out: &(u16, Value)) -> (u16, &str) {
    (out.0, out.1["__type"].as_str().unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_rules_scan_on_push_and_continuous_rules_rescan_when_advisories_change() {
    let server = TestServer::start().await;
    for repo in ["prod/web", "dev/web", "watched/app"] {
        server.create_repo(repo).await;
    }
    // BASIC refuses CONTINUOUS_SCAN; ENHANCED takes both rules.
    let continuous = json!({"scanFrequency": "CONTINUOUS_SCAN",
        "repositoryFilters": [{"filter": "watched/*", "filterType": "WILDCARD"}]});
    let on_push = json!({"scanFrequency": "SCAN_ON_PUSH",
        "repositoryFilters": [{"filter": "prod/*", "filterType": "WILDCARD"}]});
    let refused = server
        .ecr("PutRegistryScanningConfiguration", json!({"scanType": "BASIC", "rules": [continuous.clone()]}))
        .await;
    assert_eq!(err(&refused), (400, "InvalidParameterException"), "{refused:?}");
    let put = server
        .ecr_ok("PutRegistryScanningConfiguration", json!({"scanType": "ENHANCED", "rules": [on_push, continuous]}))
        .await;
    assert_eq!(put["registryScanningConfiguration"]["scanType"], "ENHANCED");
    let got = server.ecr_ok("GetRegistryScanningConfiguration", json!({})).await;
    assert_eq!(got["registryId"], ACCOUNT);
    assert_eq!(got["scanningConfiguration"]["rules"].as_array().unwrap().len(), 2);

    let batch = server
        .ecr_ok(
            "BatchGetRepositoryScanningConfiguration",
            json!({"repositoryNames": ["prod/web", "dev/web", "watched/app", "missing/repo"]}),
        )
        .await;
    let configs = batch["scanningConfigurations"].as_array().unwrap();
    assert_eq!(configs.len(), 3, "{batch}");
    assert_eq!(configs[0]["scanFrequency"], "SCAN_ON_PUSH");
    assert_eq!(configs[0]["scanOnPush"], true);
    assert_eq!(configs[0]["appliedScanFilters"], json!([{"filter": "prod/*", "filterType": "WILDCARD"}]));
    assert_eq!(
        (configs[1]["scanFrequency"].as_str(), configs[1]["scanOnPush"].as_bool()),
        (Some("MANUAL"), Some(false))
    );
    assert_eq!(configs[2]["scanFrequency"], "CONTINUOUS_SCAN");
    assert_eq!(batch["failures"][0]["repositoryName"], "missing/repo");
    assert_eq!(batch["failures"][0]["failureCode"], "REPOSITORY_NOT_FOUND");

    let oci = Oci::new(&server).await;
    let prod = debian_image("prod");
    let dev = debian_image("dev");
    let watched = debian_image("watched");
    oci.push_image("prod/web", "v1", &prod).await;
    oci.push_image("dev/web", "v1", &dev).await;
    oci.push_image("watched/app", "v1", &watched).await;
    // The registry rules scanned prod/web and watched/app on push (their repositories' own flags are off); with no
    // advisories yet, the scans say so.
    let first = wait_scan(&server, "prod/web", &prod.digest, |_| true).await;
    assert!(first["imageScanStatus"]["description"].as_str().unwrap().contains("advisory database is empty"));
    let watched_first = wait_scan(&server, "watched/app", &watched.digest, |_| true).await;
    assert_eq!(watched_first["imageScanFindings"]["findings"], json!([]));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(err(&scan_of(&server, "dev/web", &dev.digest).await), (400, "ScanNotFoundException"));

    // New advisories: only the CONTINUOUS_SCAN repository is scanned again, and finds the vulnerable package.
    let dir = tempfile::tempdir().unwrap();
    openssl_advisory(dir.path());
    server.registry.import_advisories(dir.path()).await.unwrap();
    let rescanned =
        wait_scan(&server, "watched/app", &watched.digest, |o| o["imageScanFindings"]["findings"] != json!([])).await;
    assert_eq!(rescanned["imageScanFindings"]["findingSeverityCounts"], json!({"UNDEFINED": 1}), "{rescanned}");
    let finding = &rescanned["imageScanFindings"]["findings"][0];
    assert_eq!(finding["name"], "CVE-2024-0727");
    let attributes = finding["attributes"].as_array().unwrap();
    assert!(attributes.contains(&json!({"key": "package_name", "value": "libssl3"})));
    assert!(attributes.contains(&json!({"key": "fixed_in_version", "value": "3.0.13-1~deb12u1"})));
    let prod_scan = scan_of(&server, "prod/web", &prod.digest).await.1;
    assert_eq!(prod_scan["imageScanFindings"]["findings"], json!([]), "SCAN_ON_PUSH is not continuous");
    // The re-scan is done for this import: running the job again scans nothing.
    assert_eq!(server.registry.continuous_rescan().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_images_are_not_pullable_until_restored() {
    let server = TestServer::start().await;
    server.create_repo("app").await;
    let oci = Oci::new(&server).await;
    let img = image::small_image("archive", 1);
    oci.push_image("app", "v1", &img).await;
    let archive =
        |target: &str| json!({"repositoryName": "app", "imageId": {"imageTag": "v1"}, "targetStorageClass": target});
    let out = server.ecr_ok("UpdateImageStorageClass", archive("ARCHIVE")).await;
    assert_eq!(out["imageStatus"], "ARCHIVED");
    assert_eq!(out["imageId"]["imageDigest"], img.digest);
    // A pull is a 404, BatchGetImage a failure, a scan ImageArchivedException.
    let pulled = oci.req(reqwest::Method::GET, "/v2/app/manifests/v1").send().await.unwrap();
    assert_eq!(oci_code(pulled).await, (404, "MANIFEST_UNKNOWN".into()));
    let batch =
        server.ecr_ok("BatchGetImage", json!({"repositoryName": "app", "imageIds": [{"imageTag": "v1"}]})).await;
    assert_eq!(batch["failures"][0]["failureCode"], "ImageInaccessible", "{batch}");
    let scan = server.ecr("StartImageScan", json!({"repositoryName": "app", "imageId": {"imageTag": "v1"}})).await;
    assert_eq!(err(&scan), (400, "ImageArchivedException"));
    // Listed only when asked for.
    let active = server.ecr_ok("DescribeImages", json!({"repositoryName": "app"})).await;
    assert_eq!(active["imageDetails"], json!([]));
    let archived =
        server.ecr_ok("DescribeImages", json!({"repositoryName": "app", "filter": {"imageStatus": "ARCHIVED"}})).await;
    let detail = &archived["imageDetails"][0];
    assert_eq!(detail["imageStatus"], "ARCHIVED");
    assert!(detail["lastArchivedAt"].is_number());
    let listed = server.ecr_ok("ListImages", json!({"repositoryName": "app", "filter": {"imageStatus": "ANY"}})).await;
    assert_eq!(listed["imageIds"].as_array().unwrap().len(), 1);
    // Restored: pullable again at once.
    let out = server.ecr_ok("UpdateImageStorageClass", archive("STANDARD")).await;
    assert_eq!(out["imageStatus"], "ACTIVE");
    let pulled = oci.req(reqwest::Method::GET, "/v2/app/manifests/v1").send().await.unwrap();
    assert_eq!(pulled.status(), 200);
    let described = server.ecr_ok("DescribeImages", json!({"repositoryName": "app"})).await;
    assert_eq!(described["imageDetails"][0]["imageStatus"], "ACTIVE");
    assert!(described["imageDetails"][0]["lastActivatedAt"].is_number());
    // Archived again, then pushed again: the push restores it, as in ECR.
    server.ecr_ok("UpdateImageStorageClass", archive("ARCHIVE")).await;
    let r = oci.put_manifest("app", "v1", &img.media_type, &img.manifest).await;
    assert_eq!(r.status(), 201);
    assert_eq!(oci.req(reqwest::Method::GET, "/v2/app/manifests/v1").send().await.unwrap().status(), 200);
    let missing = server
        .ecr(
            "UpdateImageStorageClass",
            json!({"repositoryName": "app", "imageId": {"imageTag": "nope"}, "targetStorageClass": "ARCHIVE"}),
        )
        .await;
    assert_eq!(err(&missing), (400, "ImageNotFoundException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_principals_do_not_update_pull_times() {
    let server = TestServer::start().await;
    server.create_repo("app").await;
    let oci = Oci::new(&server).await;
    let img = image::small_image("pulls", 1);
    oci.push_image("app", "v1", &img).await;
    let agent_role = format!("arn:aws:iam::{ACCOUNT}:role/berth-agent");
    let out = server.ecr_ok("RegisterPullTimeUpdateExclusion", json!({"principalArn": agent_role})).await;
    assert!(out["createdAt"].is_number());
    let again = server.ecr("RegisterPullTimeUpdateExclusion", json!({"principalArn": agent_role})).await;
    assert_eq!(err(&again), (400, "ExclusionAlreadyExistsException"));
    let bad = server.ecr("RegisterPullTimeUpdateExclusion", json!({"principalArn": "arn:aws:iam::1:group/g"})).await;
    assert_eq!(err(&bad), (400, "InvalidParameterException"));
    let listed = server.ecr_ok("ListPullTimeUpdateExclusions", json!({})).await;
    assert_eq!(listed["pullTimeUpdateExclusions"], json!([agent_role]));

    // The agent's pull (its token's principal is the excluded role) leaves no pull time.
    let agent = Oci { token: server.registry.agent_credentials().password, ..oci.clone() };
    let pulled = agent.req(reqwest::Method::GET, "/v2/app/manifests/v1").send().await.unwrap();
    assert_eq!(pulled.status(), 200);
    let described = server.ecr_ok("DescribeImages", json!({"repositoryName": "app"})).await;
    assert!(described["imageDetails"][0]["lastRecordedPullTime"].is_null(), "{described}");
    // Once deregistered, its pulls count again.
    server.ecr_ok("DeregisterPullTimeUpdateExclusion", json!({"principalArn": agent_role})).await;
    let gone = server.ecr("DeregisterPullTimeUpdateExclusion", json!({"principalArn": agent_role})).await;
    assert_eq!(err(&gone), (400, "ExclusionNotFoundException"));
    agent.req(reqwest::Method::GET, "/v2/app/manifests/v1").send().await.unwrap();
    let described = server.ecr_ok("DescribeImages", json!({"repositoryName": "app"})).await;
    assert!(described["imageDetails"][0]["lastRecordedPullTime"].is_number(), "{described}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_are_listed_with_their_filters() {
    let server = TestServer::start().await;
    server.create_repo("app").await;
    let oci = Oci::new(&server).await;
    let img = image::small_image("subject", 1);
    oci.push_image("app", "v1", &img).await;
    let empty = oci.push_blob("app", b"{}").await;
    let artifact = |artifact_type: &str, note: &str| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
            "subject": {"mediaType": img.media_type, "digest": img.digest, "size": img.manifest.len()},
            "annotations": {"note": note}
        }))
        .unwrap()
    };
    let mut digests = Vec::new();
    for (kind, note) in [("application/vnd.example.sbom", "sbom"), ("application/vnd.example.sig", "sig")] {
        let body = artifact(kind, note);
        let digest = image::sha256(&body);
        let r = oci.put_manifest("app", &digest, "application/vnd.oci.image.manifest.v1+json", &body).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["oci-subject"], img.digest.as_str());
        digests.push(digest);
    }
    let all = server
        .ecr_ok("ListImageReferrers", json!({"repositoryName": "app", "subjectId": {"imageDigest": img.digest}}))
        .await;
    let referrers = all["referrers"].as_array().unwrap();
    assert_eq!(referrers.len(), 2, "{all}");
    assert!(referrers.iter().all(|r| r["artifactStatus"] == "ACTIVE" && r["size"].as_i64().unwrap() > 0));
    let sboms = server
        .ecr_ok(
            "ListImageReferrers",
            json!({"repositoryName": "app", "subjectId": {"imageDigest": img.digest},
                "filter": {"artifactTypes": ["application/vnd.example.sbom"]}}),
        )
        .await;
    assert_eq!(sboms["referrers"].as_array().unwrap().len(), 1);
    assert_eq!(sboms["referrers"][0]["annotations"]["note"], "sbom");
    let page = server
        .ecr_ok(
            "ListImageReferrers",
            json!({"repositoryName": "app", "subjectId": {"imageDigest": img.digest}, "maxResults": 1}),
        )
        .await;
    assert_eq!(page["referrers"].as_array().unwrap().len(), 1);
    assert!(page["nextToken"].is_string());
    // An archived referrer is listed only when asked for.
    server
        .ecr_ok(
            "UpdateImageStorageClass",
            json!({"repositoryName": "app", "imageId": {"imageDigest": digests[0]}, "targetStorageClass": "ARCHIVE"}),
        )
        .await;
    let active = server
        .ecr_ok("ListImageReferrers", json!({"repositoryName": "app", "subjectId": {"imageDigest": img.digest}}))
        .await;
    assert_eq!(active["referrers"].as_array().unwrap().len(), 1);
    let any = server
        .ecr_ok(
            "ListImageReferrers",
            json!({"repositoryName": "app", "subjectId": {"imageDigest": img.digest}, "filter": {"artifactStatus": "ANY"}}),
        )
        .await;
    assert_eq!(any["referrers"].as_array().unwrap().len(), 2);
    let missing = server
        .ecr("ListImageReferrers", json!({"repositoryName": "nope", "subjectId": {"imageDigest": img.digest}}))
        .await;
    assert_eq!(err(&missing), (400, "RepositoryNotFoundException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_policy_and_account_settings() {
    let server = TestServer::start().await;
    let missing = server.ecr("GetRegistryPolicy", json!({})).await;
    assert_eq!(err(&missing), (400, "RegistryPolicyNotFoundException"));
    let pull_policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Pull", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": ["ecr:BatchGetImage"],
        "Resource": format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/*")}]})
    .to_string();
    // V2 (the default) takes any ECR action.
    let scope = server.ecr_ok("GetAccountSetting", json!({"name": "REGISTRY_POLICY_SCOPE"})).await;
    assert_eq!(scope["value"], "V2");
    let put = server.ecr_ok("PutRegistryPolicy", json!({"policyText": pull_policy})).await;
    assert_eq!(put["registryId"], ACCOUNT);
    assert!(server.registry.resource_policy_for("ecr:BatchGetImage", Some("any")).is_some());
    // Switching to V1 is refused while the policy names an action V1 does not allow.
    let v1 = server.ecr("PutAccountSetting", json!({"name": "REGISTRY_POLICY_SCOPE", "value": "V1"})).await;
    assert_eq!(err(&v1), (400, "InvalidParameterException"));
    let deleted = server.ecr_ok("DeleteRegistryPolicy", json!({})).await;
    assert_eq!(deleted["policyText"], pull_policy);
    server.ecr_ok("PutAccountSetting", json!({"name": "REGISTRY_POLICY_SCOPE", "value": "V1"})).await;
    let refused = server.ecr("PutRegistryPolicy", json!({"policyText": pull_policy})).await;
    assert_eq!(err(&refused), (400, "InvalidParameterException"));
    let replication = pull_policy.replace("ecr:BatchGetImage", "ecr:ReplicateImage");
    server.ecr_ok("PutRegistryPolicy", json!({"policyText": replication})).await;
    // Under V1 the registry policy is evaluated only for its three actions.
    assert!(server.registry.resource_policy_for("ecr:ReplicateImage", None).is_some());
    assert!(server.registry.resource_policy_for("ecr:BatchGetImage", Some("any")).is_none());
    let got = server.ecr_ok("GetRegistryPolicy", json!({})).await;
    assert_eq!(got["policyText"], replication);

    let basic = server.ecr_ok("GetAccountSetting", json!({"name": "BASIC_SCAN_TYPE_VERSION"})).await;
    assert_eq!(basic["value"], "AWS_NATIVE");
    let clair = server.ecr("PutAccountSetting", json!({"name": "BASIC_SCAN_TYPE_VERSION", "value": "CLAIR"})).await;
    assert_eq!(err(&clair), (400, "InvalidParameterException"));
    let unknown = server.ecr("GetAccountSetting", json!({"name": "NOPE"})).await;
    assert_eq!(err(&unknown), (400, "InvalidParameterException"));
    let registry = server.ecr_ok("DescribeRegistry", json!({})).await;
    assert_eq!(registry, json!({"registryId": ACCOUNT, "replicationConfiguration": {"rules": []}}));

    // BLOB_MOUNTING DISABLED: a mount request starts an ordinary upload.
    server.create_repo("one").await;
    server.create_repo("two").await;
    let oci = Oci::new(&server).await;
    let digest = oci.push_blob("one", b"shared layer").await;
    let mount = |oci: Oci, digest: String| async move {
        oci.req(reqwest::Method::POST, &format!("/v2/two/blobs/uploads/?mount={digest}&from=one"))
            .send()
            .await
            .unwrap()
            .status()
    };
    server.ecr_ok("PutAccountSetting", json!({"name": "BLOB_MOUNTING", "value": "DISABLED"})).await;
    assert_eq!(mount(oci.clone(), digest.clone()).await, 202);
    server.ecr_ok("PutAccountSetting", json!({"name": "BLOB_MOUNTING", "value": "ENABLED"})).await;
    assert_eq!(mount(oci.clone(), digest.clone()).await, 201);

    // Everything is in the store: a registry opened on it reads the same settings.
    let store: berth_store::SharedStore =
        std::sync::Arc::new(berth_store::SqliteStore::open(&server.dir.path().join("store.db")).unwrap());
    let other = tempfile::tempdir().unwrap();
    let config = berth_registry::RegistryConfig::new(other.path(), "us-east-1", ACCOUNT, "127.0.0.1:1");
    let clock = std::sync::Arc::new(berth_model::clock::SystemClock);
    let reopened = berth_registry::Registry::open(config, store, clock).await.unwrap();
    let settings = reopened.settings();
    assert_eq!(settings, server.registry.settings());
    assert_eq!(settings.account_value(berth_registry::settings::REGISTRY_POLICY_SCOPE), "V1");
    assert!(settings.policy.is_some());
}

/// IAM's evaluator for one principal (user `dev`, whose identity policy allows every ECR action), as the binary's
/// access policy does it for every `/v2/` request.
struct Dev {
    identity: Vec<berth_iam::policy::NamedPolicy>,
}

impl berth_registry::AccessPolicy for Dev {
    fn authorize(
        &self,
        _access_key_id: &str,
        action: &str,
        resource: &str,
        resource_policy: Option<&berth_iam::policy::NamedPolicy>,
    ) -> Result<(), String> {
        use berth_iam::policy::evaluate::{Request, RequestPrincipal, evaluate};
        let principal = RequestPrincipal {
            arn: format!("arn:aws:iam::{ACCOUNT}:user/dev"),
            account: ACCOUNT.into(),
            ..Default::default()
        };
        let context = berth_iam::policy::Context::new();
        let request = Request { principal: &principal, action, resource, context: &context };
        let decision = evaluate(&request, &self.identity, resource_policy);
        if decision.allowed() { Ok(()) } else { Err(decision.reason()) }
    }
}

fn deny(action: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/dev")}, "Action": action,
        "Resource": format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/*")}]})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_policy_is_evaluated_on_pulls_and_repository_creation() {
    use berth_iam::policy::{NamedPolicy, PolicyDocument, PolicyKind};
    let server = TestServer::start().await;
    let allow_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#;
    let document = PolicyDocument::parse(allow_all, PolicyKind::Identity).unwrap();
    let identity = vec![NamedPolicy { name: "dev-ecr".into(), document: std::sync::Arc::new(document) }];
    server.registry.set_access_policy(std::sync::Arc::new(Dev { identity }));
    server.create_repo("app").await;
    let oci = Oci::new(&server).await;
    let img = image::small_image("policy", 1);
    oci.push_image("app", "v1", &img).await;
    let pull = || oci.req(reqwest::Method::GET, "/v2/app/manifests/v1").send();
    assert_eq!(pull().await.unwrap().status(), 200);

    // V2: a registry policy's explicit deny of pulls wins over the identity policy's allow.
    server.ecr_ok("PutRegistryPolicy", json!({"policyText": deny("ecr:BatchGetImage")})).await;
    assert_eq!(oci_code(pull().await.unwrap()).await, (403, "DENIED".into()));
    server.ecr_ok("DeleteRegistryPolicy", json!({})).await;
    assert_eq!(pull().await.unwrap().status(), 200);

    // V1: the policy governs repository creation (here by a push a CREATE_ON_PUSH template would allow), not
    // pulls.
    server.ecr_ok("PutAccountSetting", json!({"name": "REGISTRY_POLICY_SCOPE", "value": "V1"})).await;
    server.ecr_ok("PutRegistryPolicy", json!({"policyText": deny("ecr:CreateRepository")})).await;
    server
        .ecr_ok("CreateRepositoryCreationTemplate", json!({"prefix": "auto", "appliedFor": ["CREATE_ON_PUSH"]}))
        .await;
    let started = oci.req(reqwest::Method::POST, "/v2/auto/app/blobs/uploads/").send().await.unwrap();
    assert_eq!(oci_code(started).await, (403, "DENIED".into()));
    assert_eq!(pull().await.unwrap().status(), 200, "under V1 the registry policy does not govern pulls");
    server.ecr_ok("DeleteRegistryPolicy", json!({})).await;
    let started = oci.req(reqwest::Method::POST, "/v2/auto/app/blobs/uploads/").send().await.unwrap();
    assert_eq!(started.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_exceptions_ecr_gives() {
    let server = TestServer::start().await;
    server.create_repo("app").await;
    let names: Vec<String> = (0..26).map(|i| format!("r{i}")).collect();
    let cases = [
        ("BatchGetRepositoryScanningConfiguration", json!({"repositoryNames": names}), "ValidationException"),
        (
            "BatchGetRepositoryScanningConfiguration",
            json!({"repositoryNames": ["Bad Name"]}),
            "InvalidParameterException",
        ),
        ("BatchGetRepositoryScanningConfiguration", json!({}), "SerializationException"),
        ("PutRegistryScanningConfiguration", json!({"scanType": "FANCY"}), "SerializationException"),
        (
            "PutRegistryScanningConfiguration",
            json!({"rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "A*", "filterType": "WILDCARD"}]}]}),
            "InvalidParameterException",
        ),
        ("PutRegistryPolicy", json!({"policyText": "{"}), "InvalidParameterException"),
        ("PutRegistryPolicy", json!({}), "SerializationException"),
        ("DeleteRegistryPolicy", json!({}), "RegistryPolicyNotFoundException"),
        ("PutAccountSetting", json!({"name": "BLOB_MOUNTING"}), "SerializationException"),
        ("PutAccountSetting", json!({"name": "BLOB_MOUNTING", "value": ""}), "InvalidParameterException"),
        ("GetAccountSetting", json!({"name": ""}), "ValidationException"),
        ("DeregisterPullTimeUpdateExclusion", json!({"principalArn": "nope"}), "InvalidParameterException"),
        ("ListPullTimeUpdateExclusions", json!({"maxResults": 0}), "InvalidParameterException"),
        ("ListPullTimeUpdateExclusions", json!({"nextToken": "!!"}), "InvalidParameterException"),
        (
            "UpdateImageStorageClass",
            json!({"repositoryName": "app", "imageId": {"imageTag": "v1"}, "targetStorageClass": "GLACIER"}),
            "SerializationException",
        ),
        (
            "UpdateImageStorageClass",
            json!({"repositoryName": "nope", "imageId": {"imageTag": "v1"}, "targetStorageClass": "ARCHIVE"}),
            "RepositoryNotFoundException",
        ),
        (
            "UpdateImageStorageClass",
            json!({"repositoryName": "app", "imageId": {}, "targetStorageClass": "ARCHIVE"}),
            "InvalidParameterException",
        ),
        (
            "ListImageReferrers",
            json!({"repositoryName": "app", "subjectId": {"imageDigest": "sha256:xyz"}}),
            "InvalidParameterException",
        ),
        ("ListImageReferrers", json!({"repositoryName": "app", "subjectId": {}}), "SerializationException"),
        (
            "ListImageReferrers",
            json!({"repositoryName": "app", "subjectId": {"imageDigest": format!("sha256:{}", "a".repeat(64))}, "maxResults": 51}),
            "InvalidParameterException",
        ),
    ];
    for (op, body, expected) in cases {
        let out = server.ecr(op, body.clone()).await;
        assert_eq!(err(&out), (400, expected), "{op} {body}: {}", out.1);
        assert!(out.1["message"].as_str().is_some_and(|m| !m.is_empty()), "{op}: {}", out.1);
    }
}

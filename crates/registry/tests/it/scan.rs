//! Scan on push and StartImageScan against OSV advisories the test imports.

use crate::common::image::{self, Entry, OCI_MANIFEST};
use crate::common::{Oci, TestServer};
use serde_json::{Value, json};
use std::time::Duration;

const DPKG_STATUS: &str = "Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\nPackage: zlib1g\nStatus: deinstall ok config-files\nVersion: 1:1.2.13.dfsg-1\n";
const CARGO_LOCK: &str = "version = 3\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
const OLD_LOCK: &str = "version = 3\n\n[[package]]\nname = \"time\"\nversion = \"0.1.40\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
const PACKAGE_LOCK: &str =
    r#"{"lockfileVersion":3,"packages":{"":{"name":"web"},"node_modules/lodash":{"version":"4.17.20"}}}"#;
const APK_DB: &str = "P:busybox\nV:1.36.1-r5\no:busybox\n\nP:musl\nV:1.2.4-r2\n\n";

fn advisories(dir: &std::path::Path) {
    let write = |name: &str, v: Value| std::fs::write(dir.join(name), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    std::fs::create_dir_all(dir.join("debian")).unwrap();
    write(
        "debian/DSA-5678-1.json",
        json!({
            "id": "DSA-5678-1", "aliases": ["CVE-2024-0727"], "summary": "openssl: denial of service",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}]
        }),
    );
    write(
        "debian/DSA-fixed.json",
        json!({
            "id": "DSA-0001-1", "summary": "bash: already fixed",
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.2.15-1"}]}]}]
        }),
    );
    write(
        "debian/DSA-other-release.json",
        json!({
            "id": "DSA-0002-1", "summary": "bash on bullseye",
            "affected": [{"package": {"ecosystem": "Debian:11", "name": "bash"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]
        }),
    );
    write(
        "RUSTSEC-2021-0003.json",
        json!({
            "id": "RUSTSEC-2021-0003", "aliases": ["CVE-2021-25900", "GHSA-43w2-9j62-hq99"], "summary": "smallvec: buffer overflow in insert_many",
            "database_specific": {"severity": "CRITICAL"},
            "affected": [{"package": {"ecosystem": "crates.io", "name": "smallvec"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.6.3"}, {"fixed": "0.6.14"}, {"introduced": "1.0.0"}, {"fixed": "1.6.1"}]}]}]
        }),
    );
    write(
        "RUSTSEC-2020-0071.json",
        json!({
            "id": "RUSTSEC-2020-0071", "summary": "time: segfault (only in a whited-out lockfile)",
            "affected": [{"package": {"ecosystem": "crates.io", "name": "time"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.2.23"}]}]}]
        }),
    );
    write(
        "GHSA-npm.json",
        json!([{
            "id": "GHSA-35jh-r3h4-6jhm", "aliases": ["CVE-2021-23337"], "summary": "lodash: command injection",
            "database_specific": {"severity": "HIGH"},
            "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}]}]
        }]),
    );
    write(
        "ALPINE-busybox.json",
        json!({
            "id": "ALPINE-CVE-2023-42363", "aliases": ["CVE-2023-42363"], "summary": "busybox: use after free",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H"}],
            "affected": [{"package": {"ecosystem": "Alpine:v3.18", "name": "busybox"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.36.1-r6"}]}]}]
        }),
    );
    std::fs::write(dir.join("notes.json"), b"this is not json").unwrap();
}

async fn wait_complete(server: &TestServer, repo: &str, digest: &str) -> Value {
    for _ in 0..100 {
        let (status, out) = server
            .ecr("DescribeImageScanFindings", json!({"repositoryName": repo, "imageId": {"imageDigest": digest}}))
            .await;
        if status == 200 && out["imageScanStatus"]["status"] != "IN_PROGRESS" {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("scan of {digest} did not complete");
}

fn names(out: &Value) -> Vec<String> {
    out["imageScanFindings"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_on_push_finds_vulnerable_packages() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    advisories(dir.path());
    let summary = server.registry.import_advisories(dir.path()).await.unwrap();
    assert_eq!(summary.imported, 7);
    assert_eq!(summary.skipped.len(), 1, "{summary:?}");
    server
        .ecr_ok(
            "CreateRepository",
            json!({"repositoryName": "scanned", "imageScanningConfiguration": {"scanOnPush": true}}),
        )
        .await;
    let oci = Oci::new(&server).await;
    let base = image::layer(&[
        Entry("etc/", None),
        Entry(
            "etc/os-release",
            Some(b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
        ),
        Entry("var/lib/dpkg/status", Some(DPKG_STATUS.as_bytes())),
        Entry("old/Cargo.lock", Some(OLD_LOCK.as_bytes())),
    ]);
    let app = image::layer(&[
        Entry("old/.wh.Cargo.lock", Some(b"")),
        Entry("app/Cargo.lock", Some(CARGO_LOCK.as_bytes())),
        Entry("web/package-lock.json", Some(PACKAGE_LOCK.as_bytes())),
    ]);
    let img = image::image(vec![base, app], OCI_MANIFEST, "scan");
    oci.push_image("scanned", "v1", &img).await;
    let out = wait_complete(&server, "scanned", &img.digest).await;
    assert_eq!(out["imageScanStatus"]["status"], "COMPLETE", "{out}");
    // Most severe first; the whited-out lockfile, the fixed bash and the other release's advisory do not count.
    assert_eq!(names(&out), vec!["CVE-2021-25900", "CVE-2021-23337", "CVE-2024-0727"]);
    let counts = &out["imageScanFindings"]["findingSeverityCounts"];
    assert_eq!(counts, &json!({"CRITICAL": 1, "HIGH": 2}));
    let openssl = &out["imageScanFindings"]["findings"][2];
    let attrs: Vec<(String, String)> = openssl["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["key"].as_str().unwrap().into(), a["value"].as_str().unwrap().into()))
        .collect();
    assert!(attrs.contains(&("package_name".into(), "libssl3".into())));
    assert!(attrs.contains(&("package_version".into(), "3.0.11-1~deb12u2".into())));
    assert!(attrs.contains(&("fixed_in_version".into(), "3.0.13-1~deb12u1".into())));
    assert!(attrs.contains(&("CVSS3_SCORE".into(), "7.5".into())));
    assert!(out["imageScanFindings"]["imageScanCompletedAt"].is_number());
    assert!(out["imageScanFindings"]["vulnerabilitySourceUpdatedAt"].is_number());
    // Paging of findings.
    let page = server
        .ecr_ok(
            "DescribeImageScanFindings",
            json!({"repositoryName": "scanned", "imageId": {"imageTag": "v1"}, "maxResults": 2}),
        )
        .await;
    assert_eq!(names(&page).len(), 2);
    let rest = server
        .ecr_ok(
            "DescribeImageScanFindings",
            json!({"repositoryName": "scanned", "imageId": {"imageTag": "v1"}, "nextToken": page["nextToken"]}),
        )
        .await;
    assert_eq!(names(&rest), vec!["CVE-2024-0727"]);
    // DescribeImages carries the status and the summary.
    let described = server.ecr_ok("DescribeImages", json!({"repositoryName": "scanned"})).await;
    let detail = &described["imageDetails"][0];
    assert_eq!(detail["imageScanStatus"]["status"], "COMPLETE");
    assert_eq!(detail["imageScanFindingsSummary"]["findingSeverityCounts"], json!({"CRITICAL": 1, "HIGH": 2}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_image_scan_on_alpine() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    advisories(dir.path());
    server.registry.import_advisories(dir.path()).await.unwrap();
    server.create_repo("alpine").await;
    let oci = Oci::new(&server).await;
    let layer = image::layer(&[
        Entry("etc/", None),
        Entry("etc/os-release", Some(b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.18.4\n")),
        Entry("lib/", None),
        Entry("lib/apk/", None),
        Entry("lib/apk/db/", None),
        Entry("lib/apk/db/installed", Some(APK_DB.as_bytes())),
    ]);
    let img = image::image(vec![layer], OCI_MANIFEST, "alpine");
    oci.push_image("alpine", "3.18", &img).await;
    // Not scanned on push (the repository does not ask for it).
    let (status, out) = server
        .ecr("DescribeImageScanFindings", json!({"repositoryName": "alpine", "imageId": {"imageTag": "3.18"}}))
        .await;
    assert_eq!((status, out["__type"].as_str()), (400, Some("ScanNotFoundException")));
    let started =
        server.ecr_ok("StartImageScan", json!({"repositoryName": "alpine", "imageId": {"imageTag": "3.18"}})).await;
    assert_eq!(started["imageScanStatus"]["status"], "IN_PROGRESS");
    assert_eq!(started["imageId"]["imageDigest"], img.digest.as_str());
    let out = wait_complete(&server, "alpine", &img.digest).await;
    assert_eq!(names(&out), vec!["CVE-2023-42363"]);
    assert_eq!(out["imageScanFindings"]["findings"][0]["severity"], "MEDIUM");
    let (status, out) =
        server.ecr("StartImageScan", json!({"repositoryName": "alpine", "imageId": {"imageTag": "nope"}})).await;
    assert_eq!((status, out["__type"].as_str()), (400, Some("ImageNotFoundException")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_without_advisories_says_the_database_is_empty() {
    let server = TestServer::start().await;
    server
        .ecr_ok(
            "CreateRepository",
            json!({"repositoryName": "unscanned", "imageScanningConfiguration": {"scanOnPush": true}}),
        )
        .await;
    let oci = Oci::new(&server).await;
    let layer = image::layer(&[Entry("var/lib/dpkg/status", Some(DPKG_STATUS.as_bytes()))]);
    let img = image::image(vec![layer], OCI_MANIFEST, "empty-db");
    oci.push_image("unscanned", "v1", &img).await;
    let out = wait_complete(&server, "unscanned", &img.digest).await;
    // The scan ran (COMPLETE, no findings), and its description says why nothing could be found.
    assert_eq!(out["imageScanStatus"]["status"], "COMPLETE", "{out}");
    assert!(names(&out).is_empty());
    let description = out["imageScanStatus"]["description"].as_str().unwrap();
    assert!(description.contains("advisory database is empty"), "{description}");
    assert!(description.contains("berth registry advisories import"), "{description}");
}

//! OCI Distribution Spec conformance-style checks over raw HTTP.

use crate::common::image::{self, DOCKER_MANIFEST, OCI_MANIFEST, sha256};
use crate::common::{Oci, TestServer, oci_code};
use reqwest::Method;
use serde_json::{Value, json};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

async fn setup(repo: &str) -> (TestServer, Oci) {
    let server = TestServer::start().await;
    server.create_repo(repo).await;
    let oci = Oci::new(&server).await;
    (server, oci)
}

fn blob_files(server: &TestServer) -> usize {
    walk(&server.dir.path().join("registry/blobs"))
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_version_check_requires_auth_and_challenges() {
    let (server, oci) = setup("app").await;
    let r = server.http.get(server.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.starts_with("Bearer realm=\"http://"), "{challenge}");
    assert!(challenge.contains("/v2/token"));
    assert_eq!(r.headers()["docker-distribution-api-version"], "registry/2.0");
    assert_eq!(oci_code(r).await, (401, "UNAUTHORIZED".into()));
    let r = oci.req(Method::GET, "/v2/").send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The token endpoint exchanges Basic credentials for a bearer token.
    let r = server
        .http
        .get(server.url("/v2/token?service=x&scope=repository:app:pull"))
        .basic_auth("AWS", Some(&oci.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let bearer = body["token"].as_str().unwrap();
    let r = server.http.get(server.url("/v2/")).bearer_auth(bearer).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Basic directly works too.
    let r = server.http.get(server.url("/v2/app/tags/list")).basic_auth("AWS", Some(&oci.token)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_refused_and_store_nothing() {
    let (server, oci) = setup("app").await;
    let img = image::small_image("a", 1);
    let wrong = [
        server
            .http
            .post(server.url("/v2/app/blobs/uploads/?digest=") + &img.config_digest)
            .bearer_auth("brt1.garbage.sig"),
        server
            .http
            .post(server.url("/v2/app/blobs/uploads/?digest=") + &img.config_digest)
            .basic_auth("AWS", Some("nope")),
        server
            .http
            .post(server.url("/v2/app/blobs/uploads/?digest=") + &img.config_digest)
            .basic_auth("root", Some(&oci.token)),
        server.http.post(server.url("/v2/app/blobs/uploads/?digest=") + &img.config_digest),
    ];
    for req in wrong {
        let r = req.body(img.config.clone()).send().await.unwrap();
        assert_eq!(oci_code(r).await, (401, "UNAUTHORIZED".into()));
    }
    let r = server.http.get(server.url("/v2/token")).basic_auth("AWS", Some("forged")).send().await.unwrap();
    assert_eq!(oci_code(r).await, (401, "UNAUTHORIZED".into()));
    // A pull-only token (the agent's) cannot push.
    let agent = server.registry.agent_credentials();
    let r = server
        .http
        .post(server.url("/v2/app/blobs/uploads/"))
        .basic_auth(&agent.username, Some(&agent.password))
        .send()
        .await
        .unwrap();
    assert_eq!(oci_code(r).await, (403, "DENIED".into()));
    let r = server
        .http
        .get(server.url("/v2/app/tags/list"))
        .basic_auth(&agent.username, Some(&agent.password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(blob_files(&server), 0);
    assert_eq!(server.registry.upload_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monolithic_push_and_blob_get_head_range() {
    let (_server, oci) = setup("app").await;
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let digest = sha256(&data);
    // Single POST with the digest.
    let r = oci
        .req(Method::POST, &format!("/v2/app/blobs/uploads/?digest={digest}"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], format!("/v2/app/blobs/{digest}").as_str());
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let r = oci.req(Method::HEAD, &format!("/v2/app/blobs/{digest}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "5000");
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let r = oci.req(Method::GET, &format!("/v2/app/blobs/{digest}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), data);
    let r =
        oci.req(Method::GET, &format!("/v2/app/blobs/{digest}")).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/5000");
    assert_eq!(r.bytes().await.unwrap().to_vec(), data[10..20].to_vec());
    let r = oci
        .req(Method::GET, &format!("/v2/app/blobs/{digest}"))
        .header("range", "bytes=6000-7000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */5000");
    // Unknown blob, bad digest, unknown repository.
    let missing = sha256(b"missing");
    assert_eq!(
        oci_code(oci.req(Method::GET, &format!("/v2/app/blobs/{missing}")).send().await.unwrap()).await,
        (404, "BLOB_UNKNOWN".into())
    );
    assert_eq!(
        oci_code(oci.req(Method::GET, "/v2/app/blobs/sha256:xyz").send().await.unwrap()).await,
        (400, "DIGEST_INVALID".into())
    );
    assert_eq!(
        oci_code(oci.req(Method::GET, &format!("/v2/nope/blobs/{digest}")).send().await.unwrap()).await,
        (404, "NAME_UNKNOWN".into())
    );
    // Large blob streams (above the small-blob threshold) with a range in the middle.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let big_digest = oci.push_blob("app", &big).await;
    let r = oci.req(Method::GET, &format!("/v2/app/blobs/{big_digest}")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), big.len());
    let r = oci
        .req(Method::GET, &format!("/v2/app/blobs/{big_digest}"))
        .header("range", "bytes=1000000-2999999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), big[1_000_000..3_000_000].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_with_content_range_and_status() {
    let (server, oci) = setup("app").await;
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 256) as u8).collect();
    let digest = sha256(&data);
    let r = oci.req(Method::POST, "/v2/app/blobs/uploads/").header("content-length", "0").send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers().contains_key("docker-upload-uuid"));
    let mut location = r.headers()["location"].to_str().unwrap().to_string();
    for (start, end) in [(0usize, 999usize), (1000, 1999)] {
        let r = oci
            .req(Method::PATCH, &location)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{start}-{end}"))
            .header("content-length", (end - start + 1).to_string())
            .body(data[start..=end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        assert_eq!(r.headers()["range"], format!("0-{end}").as_str());
        location = r.headers()["location"].to_str().unwrap().to_string();
    }
    // Out of order: a chunk that does not start at 2000 is refused with 416, and nothing of it is kept.
    let r = oci
        .req(Method::PATCH, &location)
        .header("content-range", "2500-2999")
        .body(data[2500..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(oci_code(r).await, (416, "RANGE_INVALID".into()));
    let r = oci
        .req(Method::PATCH, &location)
        .header("content-range", "1000-1999")
        .body(data[1000..2000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    // Content-Range and Content-Length disagree.
    let r = oci
        .req(Method::PATCH, &location)
        .header("content-range", "2000-2099")
        .body(data[2000..2050].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let r = oci.req(Method::GET, &location).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-1999");
    // The last chunk travels with the closing PUT.
    let r = oci
        .req(Method::PUT, &format!("{location}?digest={digest}"))
        .header("content-range", "2000-2999")
        .body(data[2000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = oci.req(Method::GET, &format!("/v2/app/blobs/{digest}")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), data);
    // The session is gone.
    assert_eq!(
        oci_code(oci.req(Method::GET, &location).send().await.unwrap()).await,
        (404, "BLOB_UPLOAD_UNKNOWN".into())
    );
    assert_eq!(server.registry.upload_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_digests_and_truncated_uploads_store_nothing() {
    let (server, oci) = setup("app").await;
    let data = b"some layer bytes".to_vec();
    let wrong = sha256(b"other bytes");
    let r = oci
        .req(Method::POST, &format!("/v2/app/blobs/uploads/?digest={wrong}"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(oci_code(r).await, (400, "DIGEST_INVALID".into()));
    // Chunked, then closed with the wrong digest.
    let r = oci.req(Method::POST, "/v2/app/blobs/uploads/").send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    oci.req(Method::PATCH, &location).body(data.clone()).send().await.unwrap();
    let r = oci.req(Method::PUT, &format!("{location}?digest={wrong}")).send().await.unwrap();
    assert_eq!(oci_code(r).await, (400, "DIGEST_INVALID".into()));
    // A malformed digest, and none at all.
    let r = oci.req(Method::POST, "/v2/app/blobs/uploads/").send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let r = oci.req(Method::PUT, &format!("{location}?digest=sha256:nothex")).body(data.clone()).send().await.unwrap();
    assert_eq!(oci_code(r).await, (400, "DIGEST_INVALID".into()));
    let r = oci.req(Method::PUT, &location).body(data.clone()).send().await.unwrap();
    assert_eq!(oci_code(r).await, (400, "DIGEST_INVALID".into()));
    oci.req(Method::DELETE, &location).send().await.unwrap();
    // Truncated: the client announces 1000 bytes and closes after 100.
    let digest = sha256(&[7u8; 1000]);
    let raw = format!(
        "POST /v2/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: 1000\r\n\r\n",
        server.addr, oci.token
    );
    let mut stream = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, raw.as_bytes()).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, &[7u8; 100]).await.unwrap();
    tokio::io::AsyncWriteExt::shutdown(&mut stream).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut buf),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(blob_files(&server), 0, "no blob may be stored");
    assert_eq!(server.registry.upload_count(), 0, "no upload may linger");
    let r = oci.req(Method::HEAD, &format!("/v2/app/blobs/{digest}")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_of_all_four_types_round_trip() {
    let (_server, oci) = setup("app").await;
    let oci_img = image::small_image("oci", 2);
    let docker_img = image::image(vec![image::layer(&[image::Entry("a.txt", Some(b"a"))])], DOCKER_MANIFEST, "docker");
    oci.push_image("app", "oci", &oci_img).await;
    oci.push_image("app", "docker", &docker_img).await;
    for (tag, img) in [("oci", &oci_img), ("docker", &docker_img)] {
        for method in [Method::GET, Method::HEAD] {
            let r = oci.req(method.clone(), &format!("/v2/app/manifests/{tag}")).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], img.media_type.as_str());
            assert_eq!(r.headers()["docker-content-digest"], img.digest.as_str());
            assert_eq!(r.headers()["content-length"], img.manifest.len().to_string().as_str());
            if method == Method::GET {
                assert_eq!(r.bytes().await.unwrap().to_vec(), img.manifest);
            }
        }
        let r = oci.req(Method::GET, &format!("/v2/app/manifests/{}", img.digest)).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap().to_vec(), img.manifest);
    }
    for (index_type, child) in [(OCI_INDEX, &oci_img), (DOCKER_LIST, &docker_img)] {
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": index_type,
            "manifests": [{"mediaType": child.media_type, "digest": child.digest, "size": child.manifest.len(),
                           "platform": {"architecture": "amd64", "os": "linux"}}]
        }))
        .unwrap();
        let r = oci.put_manifest("app", "multi", index_type, &index).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["docker-content-digest"], sha256(&index).as_str());
        let r = oci.req(Method::GET, "/v2/app/manifests/multi").send().await.unwrap();
        assert_eq!(r.headers()["content-type"], index_type);
        assert_eq!(r.bytes().await.unwrap().to_vec(), index);
    }
    // Push by digest with OCI 1.1 tag parameters.
    let img = image::small_image("bydigest", 1);
    for l in &img.layers {
        oci.push_blob("app", &l.blob).await;
    }
    oci.push_blob("app", &img.config).await;
    let r = oci.put_manifest("app", &format!("{}?tag=t1&tag=t2", img.digest), OCI_MANIFEST, &img.manifest).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers().get_all("oci-tag").iter().count(), 2);
    let r = oci.req(Method::GET, "/v2/app/manifests/t2").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_are_refused_and_store_nothing() {
    let (server, oci) = setup("app").await;
    let img = image::small_image("bad", 1);
    // Blobs missing.
    let r = oci.put_manifest("app", "v1", OCI_MANIFEST, &img.manifest).await;
    assert_eq!(oci_code(r).await, (400, "MANIFEST_BLOB_UNKNOWN".into()));
    // Blobs present only in another repository are not enough.
    server.create_repo("other").await;
    for l in &img.layers {
        oci.push_blob("other", &l.blob).await;
    }
    oci.push_blob("other", &img.config).await;
    let r = oci.put_manifest("app", "v1", OCI_MANIFEST, &img.manifest).await;
    assert_eq!(oci_code(r).await, (400, "MANIFEST_BLOB_UNKNOWN".into()));
    // Digest reference that does not match the content.
    let wrong = sha256(b"x");
    let r = oci.put_manifest("other", &wrong, OCI_MANIFEST, &img.manifest).await;
    assert_eq!(oci_code(r).await, (400, "DIGEST_INVALID".into()));
    // Invalid JSON, wrong schema, mismatched media type, unsupported schema 1.
    for (body, ct) in [
        (b"{not json".to_vec(), OCI_MANIFEST),
        (br#"{"schemaVersion":1}"#.to_vec(), OCI_MANIFEST),
        (img.manifest.clone(), DOCKER_MANIFEST),
        (
            br#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#.to_vec(),
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
    ] {
        let r = oci.put_manifest("other", "bad", ct, &body).await;
        assert_eq!(oci_code(r).await, (400, "MANIFEST_INVALID".into()));
    }
    // Over 4 MiB.
    let mut big: Value = serde_json::from_slice(&img.manifest).unwrap();
    big["annotations"] = json!({"pad": "x".repeat(4 * 1024 * 1024)});
    let r = oci.put_manifest("other", "big", OCI_MANIFEST, &serde_json::to_vec(&big).unwrap()).await;
    assert_eq!(oci_code(r).await, (413, "MANIFEST_INVALID".into()));
    // Index referencing an unknown manifest.
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(b"nope"), "size": 10}]}))
    .unwrap();
    let r = oci.put_manifest("other", "idx", OCI_INDEX, &index).await;
    assert_eq!(oci_code(r).await, (400, "MANIFEST_BLOB_UNKNOWN".into()));
    // Bad names and tags.
    let r = oci.put_manifest("other", "-bad-tag", OCI_MANIFEST, &img.manifest).await;
    assert_eq!(oci_code(r).await, (400, "TAG_INVALID".into()));
    let r = oci.req(Method::GET, "/v2/Bad_Name/tags/list").send().await.unwrap();
    assert_eq!(oci_code(r).await, (400, "NAME_INVALID".into()));
    let r = oci.req(Method::POST, "/v2/no-such-repo/blobs/uploads/").send().await.unwrap();
    assert_eq!(oci_code(r).await, (404, "NAME_UNKNOWN".into()));
    // Nothing was stored in either repository.
    for repo in ["app", "other"] {
        let tags: Value =
            oci.req(Method::GET, &format!("/v2/{repo}/tags/list")).send().await.unwrap().json().await.unwrap();
        assert_eq!(tags["tags"], json!([]), "{repo}");
    }
    let (_, images) = server.ecr("ListImages", json!({"repositoryName": "other"})).await;
    assert_eq!(images["imageIds"], json!([]));
    let r = oci.req(Method::GET, "/v2/app/manifests/bad").send().await.unwrap();
    assert_eq!(oci_code(r).await, (404, "MANIFEST_UNKNOWN".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_repository_mount() {
    let (server, oci) = setup("source").await;
    server.create_repo("target").await;
    let digest = oci.push_blob("source", b"shared layer").await;
    let r =
        oci.req(Method::POST, &format!("/v2/target/blobs/uploads/?mount={digest}&from=source")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], format!("/v2/target/blobs/{digest}").as_str());
    let r = oci.req(Method::GET, &format!("/v2/target/blobs/{digest}")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"shared layer");
    // Mounting something the source does not have starts an upload instead.
    let missing = sha256(b"absent");
    let r =
        oci.req(Method::POST, &format!("/v2/target/blobs/uploads/?mount={missing}&from=source")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/v2/target/blobs/uploads/"));
    // Stored once.
    assert_eq!(blob_files(&server), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_paging_catalog_and_deletes() {
    let (server, oci) = setup("app").await;
    server.create_repo("zeta").await;
    server.create_repo("beta").await;
    let img = image::small_image("tags", 1);
    oci.push_image("app", "v1", &img).await;
    for tag in ["v2", "v3", "a0", "latest"] {
        let r = oci.put_manifest("app", tag, OCI_MANIFEST, &img.manifest).await;
        assert_eq!(r.status(), 201);
    }
    let all: Value = oci.req(Method::GET, "/v2/app/tags/list").send().await.unwrap().json().await.unwrap();
    assert_eq!(all, json!({"name": "app", "tags": ["a0", "latest", "v1", "v2", "v3"]}));
    let r = oci.req(Method::GET, "/v2/app/tags/list?n=2").send().await.unwrap();
    assert_eq!(r.headers()["link"], "</v2/app/tags/list?n=2&last=latest>; rel=\"next\"");
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["tags"], json!(["a0", "latest"]));
    let page: Value =
        oci.req(Method::GET, "/v2/app/tags/list?n=2&last=latest").send().await.unwrap().json().await.unwrap();
    assert_eq!(page["tags"], json!(["v1", "v2"]));
    let r = oci.req(Method::GET, "/v2/app/tags/list?n=2&last=v2").send().await.unwrap();
    assert!(r.headers().get("link").is_none());
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!(["v3"]));
    let page: Value = oci.req(Method::GET, "/v2/app/tags/list?n=0").send().await.unwrap().json().await.unwrap();
    assert_eq!(page["tags"], json!([]));
    let catalog: Value = oci.req(Method::GET, "/v2/_catalog").send().await.unwrap().json().await.unwrap();
    assert_eq!(catalog, json!({"repositories": ["app", "beta", "zeta"]}));
    let r = oci.req(Method::GET, "/v2/_catalog?n=1&last=app").send().await.unwrap();
    assert!(r.headers()["link"].to_str().unwrap().contains("last=beta"));
    assert_eq!(r.json::<Value>().await.unwrap()["repositories"], json!(["beta"]));
    // Delete a tag: the manifest stays.
    let r = oci.req(Method::DELETE, "/v2/app/manifests/v3").send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(oci.req(Method::GET, "/v2/app/manifests/v3").send().await.unwrap().status(), 404);
    assert_eq!(oci.req(Method::GET, &format!("/v2/app/manifests/{}", img.digest)).send().await.unwrap().status(), 200);
    // Delete by digest: the manifest and every tag go.
    let r = oci.req(Method::DELETE, &format!("/v2/app/manifests/{}", img.digest)).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(oci.req(Method::GET, "/v2/app/manifests/v1").send().await.unwrap().status(), 404);
    let all: Value = oci.req(Method::GET, "/v2/app/tags/list").send().await.unwrap().json().await.unwrap();
    assert_eq!(all["tags"], json!([]));
    let r = oci.req(Method::DELETE, &format!("/v2/app/manifests/{}", img.digest)).send().await.unwrap();
    assert_eq!(oci_code(r).await, (404, "MANIFEST_UNKNOWN".into()));
    // Blob deletion is left to garbage collection.
    let r = oci.req(Method::DELETE, &format!("/v2/app/blobs/{}", img.config_digest)).send().await.unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_with_artifact_type_filter() {
    let (_server, oci) = setup("app").await;
    let subject = image::small_image("subject", 1);
    oci.push_image("app", "v1", &subject).await;
    let empty = b"{}".to_vec();
    let empty_digest = oci.push_blob("app", &empty).await;
    let mut pushed = Vec::new();
    for (kind, annotation) in [("application/vnd.example.sbom", "sbom"), ("application/vnd.example.sig", "sig")] {
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest, "size": subject.manifest.len()},
            "annotations": {"kind": annotation}
        }))
        .unwrap();
        let digest = sha256(&body);
        let r = oci.put_manifest("app", &digest, OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["oci-subject"], subject.digest.as_str());
        pushed.push((kind, digest));
    }
    let r = oci.req(Method::GET, &format!("/v2/app/referrers/{}", subject.digest)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    assert!(r.headers().get("oci-filters-applied").is_none());
    let all: Value = r.json().await.unwrap();
    assert_eq!(all["manifests"].as_array().unwrap().len(), 2);
    let r = oci
        .req(Method::GET, &format!("/v2/app/referrers/{}?artifactType=application/vnd.example.sig", subject.digest))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let sig: Value = r.json().await.unwrap();
    let list = sig["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], pushed[1].1.as_str());
    assert_eq!(list[0]["artifactType"], "application/vnd.example.sig");
    assert_eq!(list[0]["annotations"]["kind"], "sig");
    // No referrers: an empty index, not a 404.
    let none: Value = oci
        .req(Method::GET, &format!("/v2/app/referrers/{}", sha256(b"none")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["manifests"], json!([]));
    let r = oci.req(Method::GET, "/v2/app/referrers/notadigest").send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_tags_refuse_overwrites() {
    let (server, oci) = setup("app").await;
    server.ecr_ok("PutImageTagMutability", json!({"repositoryName": "app", "imageTagMutability": "IMMUTABLE"})).await;
    let a = image::small_image("a", 1);
    let b = image::small_image("b", 1);
    oci.push_image("app", "v1", &a).await;
    // Same content again is fine.
    assert_eq!(oci.put_manifest("app", "v1", OCI_MANIFEST, &a.manifest).await.status(), 201);
    for l in &b.layers {
        oci.push_blob("app", &l.blob).await;
    }
    oci.push_blob("app", &b.config).await;
    let r = oci.put_manifest("app", "v1", OCI_MANIFEST, &b.manifest).await;
    assert_eq!(oci_code(r).await, (400, "TAG_INVALID".into()));
    let got = oci.req(Method::GET, "/v2/app/manifests/v1").send().await.unwrap();
    assert_eq!(got.headers()["docker-content-digest"], a.digest.as_str());
    // Concurrent pushes of one new immutable tag: exactly one wins.
    let mut tasks = Vec::new();
    for img in [a, b] {
        let oci = oci.clone();
        tasks.push(tokio::spawn(async move {
            oci.put_manifest("app", "race", OCI_MANIFEST, &img.manifest).await.status().as_u16()
        }));
    }
    let mut codes: Vec<u16> = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes, vec![201, 400]);
}

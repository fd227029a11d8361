//! Pull-through cache against real upstreams: another Berth registry (the Docker token flow with credentials read
//! from a secret) and a fake upstream that sends a blob whose content does not match its digest.

use crate::common::image::{self, DOCKER_MANIFEST};
use crate::common::{Oci, Options, TestServer};
use axum::Router;
use axum::extract::Path;
use axum::response::IntoResponse;
use axum::routing::get;
use berth_registry::pullthrough::{SecretProblem, UpstreamSecrets};
use futures::future::BoxFuture;
use serde_json::json;
use std::sync::Arc;

const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/up-AbCdEf";

/// A Secrets Manager with one secret.
struct OneSecret(String);

impl UpstreamSecrets for OneSecret {
    fn read<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, Result<String, SecretProblem>> {
        Box::pin(async move {
            if arn == SECRET_ARN {
                Ok(self.0.clone())
            } else {
                Err(SecretProblem::NotFound(format!("no secret {arn}")))
            }
        })
    }
}

async fn downstream(upstream: &str) -> TestServer {
    TestServer::start_with(Options { pull_through_allow: vec![upstream.to_string()], ..Options::default() }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_through_a_registry_that_wants_a_token_with_the_rules_credentials() {
    let upstream = TestServer::start().await;
    upstream.create_repo("lib/app").await;
    let img = image::small_image("through", 2);
    Oci::new(&upstream).await.push_image("lib/app", "v1", &img).await;
    let upstream_url = format!("http://{}", upstream.addr);
    let down = downstream(&upstream_url).await;

    // Without Secrets Manager the secret cannot be read; a secret that is not the credentials' JSON is refused at
    // Create and makes Validate say why; the right one validates.
    let rule = json!({"ecrRepositoryPrefix": "up", "upstreamRegistryUrl": upstream_url, "credentialArn": SECRET_ARN});
    let (status, out) = down.ecr("CreatePullThroughCacheRule", rule.clone()).await;
    assert_eq!((status, out["__type"].as_str()), (400, Some("UnableToAccessSecretException")), "{out}");
    down.registry.set_upstream_secrets(Arc::new(OneSecret("not json".into())));
    let (status, out) = down.ecr("CreatePullThroughCacheRule", rule.clone()).await;
    assert_eq!((status, out["__type"].as_str()), (400, Some("UnableToDecryptSecretValueException")), "{out}");
    let secret = json!({"username": "AWS", "accessToken": upstream.password().await}).to_string();
    down.registry.set_upstream_secrets(Arc::new(OneSecret(secret.clone())));
    down.ecr_ok("CreatePullThroughCacheRule", rule).await;
    down.registry.set_upstream_secrets(Arc::new(OneSecret(json!({"username": "AWS"}).to_string())));
    let valid = down.ecr_ok("ValidatePullThroughCacheRule", json!({"ecrRepositoryPrefix": "up"})).await;
    assert_eq!(valid["isValid"], false, "{valid}");
    assert!(valid["failure"].as_str().unwrap().contains("accessToken"), "{valid}");
    down.registry.set_upstream_secrets(Arc::new(OneSecret(secret)));
    let valid = down.ecr_ok("ValidatePullThroughCacheRule", json!({"ecrRepositoryPrefix": "up"})).await;
    assert_eq!(valid["isValid"], true, "{valid}");

    // A rule without credentials: the upstream's token service refuses, nothing is cached, the client gets 502.
    down.ecr_ok(
        "CreatePullThroughCacheRule",
        json!({"ecrRepositoryPrefix": "anon", "upstreamRegistryUrl": upstream_url}),
    )
    .await;
    let oci = Oci::new(&down).await;
    let r = oci.req(reqwest::Method::GET, "/v2/anon/lib/app/manifests/v1").send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.text().await.unwrap().contains("refused"));

    // With them: the manifest (verbatim, same digest) and every blob come through and are then stored here.
    let r = oci.req(reqwest::Method::GET, "/v2/up/lib/app/manifests/v1").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], img.digest.as_str());
    assert_eq!(r.bytes().await.unwrap().as_ref(), img.manifest.as_slice());
    let mut blobs: Vec<(String, Vec<u8>)> = img.layers.iter().map(|l| (l.digest.clone(), l.blob.clone())).collect();
    blobs.push((img.config_digest.clone(), img.config.clone()));
    for (digest, data) in &blobs {
        let head = oci.req(reqwest::Method::HEAD, &format!("/v2/up/lib/app/blobs/{digest}")).send().await.unwrap();
        assert_eq!(head.status(), 200);
        let r = oci.req(reqwest::Method::GET, &format!("/v2/up/lib/app/blobs/{digest}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), data.as_slice());
    }
    let described = down.ecr_ok("DescribeImages", json!({"repositoryName": "up/lib/app"})).await;
    assert_eq!(described["imageDetails"][0]["imageDigest"], img.digest.as_str());
    for (digest, _) in &blobs {
        let parsed = berth_registry::digest::Digest::parse(digest).unwrap();
        assert!(down.registry.blob_store().stat(&parsed).await.unwrap().is_some(), "{digest} was not stored");
    }
    // A tag the upstream does not have is MANIFEST_UNKNOWN, as from any registry.
    let r = oci.req(reqwest::Method::GET, "/v2/up/lib/app/manifests/nope").send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_whose_content_does_not_match_its_digest_is_not_stored_and_fails_the_client() {
    let img = image::image(vec![image::random_layer(7, 256 * 1024)], DOCKER_MANIFEST, "liar");
    let (manifest, config, layer_digest) = (img.manifest.clone(), img.config.clone(), img.layers[0].digest.clone());
    let config_digest = img.config_digest.clone();
    let served_config_digest = config_digest.clone();
    let mut wrong = img.layers[0].blob.clone();
    wrong[1000] ^= 0xff;
    let app = Router::new().route("/v2/", get(|| async { "{}" })).route(
        "/v2/{repo}/{kind}/{reference}",
        get(move |Path((_, kind, reference)): Path<(String, String, String)>| {
            let (manifest, config, wrong, config_digest) =
                (manifest.clone(), config.clone(), wrong.clone(), served_config_digest.clone());
            async move {
                match kind.as_str() {
                    "manifests" => ([("content-type", DOCKER_MANIFEST)], manifest).into_response(),
                    "blobs" if reference == config_digest => config.into_response(),
                    "blobs" => wrong.into_response(),
                    _ => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("http://{addr}");
    let down = downstream(&url).await;
    down.ecr_ok("CreatePullThroughCacheRule", json!({"ecrRepositoryPrefix": "fake", "upstreamRegistryUrl": url})).await;
    let oci = Oci::new(&down).await;
    let r = oci.req(reqwest::Method::GET, "/v2/fake/app/manifests/v1").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = oci.req(reqwest::Method::GET, &format!("/v2/fake/app/blobs/{config_digest}")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), img.config.as_slice());

    // The layer's bytes arrive but its body fails before it completes, and nothing of it is kept.
    for _ in 0..2 {
        let r = oci.req(reqwest::Method::GET, &format!("/v2/fake/app/blobs/{layer_digest}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.is_err(), "a blob that does not verify must not reach the client whole");
        let parsed = berth_registry::digest::Digest::parse(&layer_digest).unwrap();
        assert!(down.registry.blob_store().stat(&parsed).await.unwrap().is_none());
    }
    let parsed = berth_registry::digest::Digest::parse(&config_digest).unwrap();
    assert!(down.registry.blob_store().stat(&parsed).await.unwrap().is_some());
    server.abort();
}

/// Debian's CNCF registry serving https with a certificate of a private CA, killed on drop.
struct TlsUpstream {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_upstream() -> TlsUpstream {
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f).display().to_string();
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", &path("key.pem"), "-out", &path("cert.pem")])
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n",
        path("data"),
        path("cert.pem"),
        path("key.pem")
    );
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    let child = std::process::Command::new("docker-registry")
        .arg("serve")
        .arg(dir.path().join("config.yml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker-registry is installed");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    TlsUpstream { child, port, dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_through_an_https_upstream_whose_certificate_verifies() {
    let upstream = tls_upstream();
    let img = image::small_image("tls", 1);
    let layout = upstream.dir.path().join("layout");
    image::write_oci_layout(&layout, &img, "v1");
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://127.0.0.1:{}/lib/app:v1", upstream.port))
        .output()
        .expect("skopeo is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A bare host is https, as ECR's upstream URLs are written.
    let host = format!("127.0.0.1:{}", upstream.port);
    let rule = json!({"ecrRepositoryPrefix": "sec", "upstreamRegistryUrl": host});

    // Trusting the private CA (--pull-through-ca-file), the image comes through.
    let ca = upstream.dir.path().join("cert.pem");
    let down = TestServer::start_with(Options {
        pull_through_allow: vec![host.clone()],
        pull_through_ca: Some(ca),
        ..Options::default()
    })
    .await;
    down.ecr_ok("CreatePullThroughCacheRule", rule.clone()).await;
    let valid = down.ecr_ok("ValidatePullThroughCacheRule", json!({"ecrRepositoryPrefix": "sec"})).await;
    assert_eq!(valid["isValid"], true, "{valid}");
    let oci = Oci::new(&down).await;
    let r = oci.req(reqwest::Method::GET, "/v2/sec/lib/app/manifests/v1").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], img.digest.as_str());
    let layer = &img.layers[0];
    let r = oci.req(reqwest::Method::GET, &format!("/v2/sec/lib/app/blobs/{}", layer.digest)).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), layer.blob.as_slice());

    // Without it the certificate does not verify: nothing is fetched.
    let untrusting = downstream(&host).await;
    untrusting.ecr_ok("CreatePullThroughCacheRule", rule).await;
    let valid = untrusting.ecr_ok("ValidatePullThroughCacheRule", json!({"ecrRepositoryPrefix": "sec"})).await;
    assert_eq!(valid["isValid"], false, "{valid}");
    let oci = Oci::new(&untrusting).await;
    let r = oci.req(reqwest::Method::GET, "/v2/sec/lib/app/manifests/v1").send().await.unwrap();
    assert_eq!(r.status(), 502);
    let text = r.text().await.unwrap();
    assert!(text.contains("certificate"), "{text}");
}

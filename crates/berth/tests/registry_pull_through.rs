//! ECR pull-through cache, repository creation templates and repository policies through a real `berth server`:
//! the upstream is Debian's CNCF registry (`docker-registry`) on a free loopback port, reached through a small
//! proxy in this test that counts the upstream requests and can throttle them; images are built by the test and
//! pushed to the upstream with `docker push`; pulls go through Berth with `docker` and `skopeo`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly, real clocks

mod common;

use base64::Engine as _;
use berth_testkit::{Berth, BerthOptions, docker, free_port};
use common::*;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long Berth serves a cached tag before asking the upstream again, in this test (ECR: 24 h).
const RECHECK_SECONDS: u64 = 20;

/// Debian's CNCF registry on a free loopback port, storing into a temporary directory.
struct Upstream {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Upstream {
    fn start() -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is installed (Debian's docker-registry package)");
        let up = Upstream { child, port, _dir: dir };
        berth_testkit::wait_for_blocking("the upstream registry", Duration::from_secs(20), || {
            berth_testkit::http_get_timeout(&format!("http://127.0.0.1:{port}/v2/"), Duration::from_millis(300))
                .ok()
                .filter(|(status, _)| *status == 200)
        })
        .unwrap();
        up
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the proxy saw and does.
#[derive(Default)]
struct ProxyState {
    manifests: AtomicUsize,
    blobs: AtomicUsize,
    throttle: AtomicBool,
    /// Milliseconds since `started` of the last byte forwarded from the upstream.
    last_down_ms: AtomicU64,
    requests: Mutex<Vec<String>>,
}

/// A TCP proxy in front of the upstream that counts the requests Berth sends (their request lines) and, when asked,
/// forwards the upstream's answers at about 1 MiB/s.
struct Proxy {
    port: u16,
    state: Arc<ProxyState>,
    started: Instant,
}

impl Proxy {
    fn start(upstream_port: u16) -> Proxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState::default());
        let started = Instant::now();
        let st = state.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    let Ok((client, _)) = listener.accept().await else { continue };
                    let st = st.clone();
                    tokio::spawn(async move {
                        let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await else {
                            return;
                        };
                        let (mut cr, mut cw) = client.into_split();
                        let (mut sr, mut sw) = server.into_split();
                        let up_state = st.clone();
                        let up = async move {
                            let mut buf = vec![0u8; 16 * 1024];
                            let mut head = Vec::new();
                            while let Ok(n) = cr.read(&mut buf).await {
                                if n == 0 {
                                    break;
                                }
                                head.extend_from_slice(&buf[..n]);
                                while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                                    let request = String::from_utf8_lossy(&head[..end]).into_owned();
                                    let line = request.lines().next().unwrap_or("").to_string();
                                    if line.contains("/manifests/") {
                                        up_state.manifests.fetch_add(1, Ordering::SeqCst);
                                    }
                                    if line.contains("/blobs/") {
                                        up_state.blobs.fetch_add(1, Ordering::SeqCst);
                                    }
                                    up_state.requests.lock().unwrap().push(line);
                                    head.drain(..end + 4);
                                }
                                if sw.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        };
                        let down = async move {
                            let mut buf = vec![0u8; 16 * 1024];
                            while let Ok(n) = sr.read(&mut buf).await {
                                if n == 0 {
                                    break;
                                }
                                if st.throttle.load(Ordering::SeqCst) {
                                    tokio::time::sleep(Duration::from_millis(16)).await;
                                }
                                if cw.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                                st.last_down_ms.store(started.elapsed().as_millis() as u64, Ordering::SeqCst);
                            }
                        };
                        tokio::select! { _ = up => {}, _ = down => {} }
                    });
                }
            });
        });
        Proxy { port, state, started }
    }

    fn manifests(&self) -> usize {
        self.state.manifests.load(Ordering::SeqCst)
    }

    fn blobs(&self) -> usize {
        self.state.blobs.load(Ordering::SeqCst)
    }
}

/// Builds an image `FROM scratch` with one file of `size` random bytes and tags it `tag`.
fn build_image(dir: &std::path::Path, tag: &str, size: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut bytes = vec![0u8; size];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    std::fs::write(dir.join("payload.bin"), &bytes).unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY payload.bin /payload.bin\n").unwrap();
    let out =
        Command::new("docker").args(["build", "-q", "-t", tag]).arg(dir).env("DOCKER_BUILDKIT", "0").output().unwrap();
    assert!(out.status.success(), "docker build: {}", String::from_utf8_lossy(&out.stderr));
}

/// The registry password GetAuthorizationToken gives (what `aws ecr get-login-password` prints).
fn login_password(berth: &Berth) -> String {
    aws_cli(berth, &["ecr", "get-login-password"]).trim().to_string()
}

fn docker_login(host: &str, password: &str) {
    let mut login = Command::new("docker")
        .args(["login", "--username", "AWS", "--password-stdin", host])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    login.stdin.as_mut().unwrap().write_all(password.as_bytes()).unwrap();
    drop(login.stdin.take());
    let out = login.wait_with_output().unwrap();
    assert!(out.status.success(), "docker login: {}", String::from_utf8_lossy(&out.stderr));
}

fn start_berth(proxy_port: u16) -> Berth {
    berth_testkit::require_docker();
    Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec![
            "--pull-through-upstream-allow".into(),
            format!("http://127.0.0.1:{proxy_port}"),
            "--pull-through-recheck-seconds".into(),
            RECHECK_SECONDS.to_string(),
        ],
    })
    .expect("berth server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_through_cache_fills_from_the_upstream_streams_and_survives_its_outage() {
    let mut upstream = Upstream::start();
    let proxy = Proxy::start(upstream.port);
    let berth = start_berth(proxy.port);
    let host = format!("127.0.0.1:{}", berth.port);
    let suffix = &berth.account_id[..6];
    let work = tempfile::tempdir().unwrap();

    // Two images in the upstream: a small one pulled with docker and skopeo, a big one for the streaming check.
    let small = format!("127.0.0.1:{}/lib/app-{suffix}:v1", upstream.port);
    let big = format!("127.0.0.1:{}/lib/big-{suffix}:v1", upstream.port);
    build_image(&work.path().join("small"), &small, 64 * 1024);
    build_image(&work.path().join("big"), &big, 4 * 1024 * 1024);
    docker(&["push", &small]).unwrap();
    docker(&["push", &big]).unwrap();
    docker(&["rmi", &small, &big]).unwrap();

    // The rule: an http upstream is refused unless the operator allowed it; this one is.
    // (The aws CLI v1 fetches parameter values that start with http://, so an http URL goes in --cli-input-json.)
    let rule = |prefix: &str, url: &str| {
        serde_json::json!({"ecrRepositoryPrefix": prefix, "upstreamRegistryUrl": url}).to_string()
    };
    let e = aws_err(
        &berth,
        "ecr",
        &["create-pull-through-cache-rule", "--cli-input-json", &rule("other", "http://127.0.0.1:1")],
    );
    assert!(e.contains("UnsupportedUpstreamRegistryException"), "{e}");
    let e = aws_err(
        &berth,
        "ecr",
        &["create-pull-through-cache-rule", "--ecr-repository-prefix", "Bad", "--upstream-registry-url", "quay.io"],
    );
    assert!(e.contains("InvalidParameterException"), "{e}");
    let upstream_url = format!("http://127.0.0.1:{}", proxy.port);
    let created =
        aws_ok(&berth, "ecr", &["create-pull-through-cache-rule", "--cli-input-json", &rule("up", &upstream_url)]);
    assert_eq!(created["ecrRepositoryPrefix"], "up");
    assert_eq!(created["registryId"], berth.account_id.as_str());
    let e = aws_err(&berth, "ecr", &["create-pull-through-cache-rule", "--cli-input-json", &rule("up", &upstream_url)]);
    assert!(e.contains("PullThroughCacheRuleAlreadyExistsException"), "{e}");
    let rules = aws_ok(&berth, "ecr", &["describe-pull-through-cache-rules"]);
    assert_eq!(rules["pullThroughCacheRules"][0]["upstreamRegistryUrl"], upstream_url.as_str());
    let valid = aws_ok(&berth, "ecr", &["validate-pull-through-cache-rule", "--ecr-repository-prefix", "up"]);
    assert_eq!(valid["isValid"], true, "{valid}");
    let e = aws_err(&berth, "ecr", &["describe-pull-through-cache-rules", "--ecr-repository-prefixes", "nope"]);
    assert!(e.contains("PullThroughCacheRuleNotFoundException"), "{e}");

    // docker pull through Berth: the repository is created, the image cached.
    let password = login_password(&berth);
    docker_login(&host, &password);
    let through = format!("{host}/up/lib/app-{suffix}:v1");
    let checked = Instant::now();
    docker(&["pull", &through]).unwrap();
    let (manifests, blobs) = (proxy.manifests(), proxy.blobs());
    assert!(manifests >= 1 && blobs >= 2, "upstream requests: {:?}", proxy.state.requests.lock().unwrap());

    // Within the recheck interval a pull asks the upstream nothing.
    docker(&["rmi", &through]).unwrap();
    docker(&["pull", &through]).unwrap();
    assert!(checked.elapsed() < Duration::from_secs(RECHECK_SECONDS), "the machine is too slow for this check");
    assert_eq!((proxy.manifests(), proxy.blobs()), (manifests, blobs), "a cached pull went upstream");
    let repos =
        aws_ok(&berth, "ecr", &["describe-repositories", "--repository-names", &format!("up/lib/app-{suffix}")]);
    assert_eq!(repos["repositories"][0]["repositoryName"], format!("up/lib/app-{suffix}"));
    let images = aws_ok(&berth, "ecr", &["describe-images", "--repository-name", &format!("up/lib/app-{suffix}")]);
    assert_eq!(images["imageDetails"][0]["imageTags"][0], "v1");

    // skopeo through Berth (another client), still from the cache.
    let creds = format!("AWS:{password}");
    let copied = work.path().join("copied");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &format!("docker://{through}"),
        &format!("dir:{}", copied.display()),
    ])
    .unwrap();
    assert!(copied.join("manifest.json").exists());
    // (On a machine so slow that skopeo came after the interval, its pull was the recheck.)
    let last_check = if proxy.manifests() > manifests { Instant::now() } else { checked };

    // Past the interval the tag is checked upstream once (and the unchanged image not fetched again).
    std::thread::sleep(Duration::from_secs(RECHECK_SECONDS + 1).saturating_sub(last_check.elapsed()));
    let manifests = proxy.manifests();
    docker(&["pull", &through]).unwrap();
    docker(&["pull", &through]).unwrap();
    assert_eq!(proxy.manifests(), manifests + 1, "{:?}", proxy.state.requests.lock().unwrap());
    assert_eq!(proxy.blobs(), blobs);

    // Streaming: a throttled 4 MiB layer reaches the client before the upstream transfer ends.
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&creds));
    let http = reqwest::Client::new();
    let big_repo = format!("up/lib/big-{suffix}");
    let manifest: serde_json::Value = http
        .get(format!("http://{host}/v2/{big_repo}/manifests/v1"))
        .header("authorization", &auth)
        .header("accept", "application/vnd.docker.distribution.manifest.v2+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_string();
    assert!(manifest["layers"][0]["size"].as_u64().unwrap() > 4_000_000, "{manifest}");
    proxy.state.throttle.store(true, Ordering::SeqCst);
    let asked = Instant::now();
    let asked_ms = proxy.started.elapsed().as_millis() as u64;
    let mut response = http
        .get(format!("http://{host}/v2/{big_repo}/blobs/{layer}"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut first_byte_ms = None;
    while let Some(chunk) = response.chunk().await.unwrap() {
        first_byte_ms.get_or_insert_with(|| proxy.started.elapsed().as_millis() as u64);
        sha2::Digest::update(&mut hasher, &chunk);
    }
    let took = asked.elapsed();
    proxy.state.throttle.store(false, Ordering::SeqCst);
    assert_eq!(format!("sha256:{}", hex::encode(sha2::Digest::finalize(hasher))), layer);
    let (first, upstream_done) = (first_byte_ms.unwrap(), proxy.state.last_down_ms.load(Ordering::SeqCst));
    eprintln!(
        "streaming: first byte at the client {} ms after the request, upstream transfer ended {} ms after it, client done after {took:?}",
        first.saturating_sub(asked_ms),
        upstream_done.saturating_sub(asked_ms)
    );
    assert!(took > Duration::from_secs(2), "the throttle did not hold the transfer back ({took:?})");
    assert!(
        first + 1500 < upstream_done,
        "the first byte ({first} ms) should reach the client well before the upstream transfer ends ({upstream_done} ms)"
    );
    // And it was stored while streaming: the next GET is served without the upstream.
    let blobs_now = proxy.blobs();
    let again = http
        .get(format!("http://{host}/v2/{big_repo}/blobs/{layer}"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(again.len() as u64, manifest["layers"][0]["size"].as_u64().unwrap());
    assert_eq!(proxy.blobs(), blobs_now);

    // The upstream goes away: what is cached is still served, even past the recheck interval.
    upstream.stop();
    std::thread::sleep(Duration::from_secs(RECHECK_SECONDS + 1));
    docker(&["rmi", &through]).unwrap();
    docker(&["pull", &through]).unwrap();
    // Nothing cached under a name the upstream cannot answer for: a clear error, not a hang.
    let missing = docker(&["pull", &format!("{host}/up/lib/never-{suffix}:v1")]);
    assert!(missing.is_err());

    let _ = docker(&["rmi", &through]);
    let _ = docker(&["logout", &host]);
    aws_ok(&berth, "ecr", &["delete-pull-through-cache-rule", "--ecr-repository-prefix", "up"]);
    let e = aws_err(&berth, "ecr", &["delete-pull-through-cache-rule", "--ecr-repository-prefix", "up"]);
    assert!(e.contains("PullThroughCacheRuleNotFoundException"), "{e}");
}

/// Credentials of an IAM user, as the environment of its aws CLI calls.
fn user_env(key: &serde_json::Value) -> Vec<(String, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID".into(), key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string()),
        ("AWS_SECRET_ACCESS_KEY".into(), key["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string()),
    ]
}

fn as_user(berth: &Berth, env: &[(String, String)], args: &[&str]) -> Result<serde_json::Value, String> {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    aws_json(berth, "ecr", args, &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_templates_create_on_push_and_repository_policies_decide_access() {
    berth_testkit::require_docker();
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let host = format!("127.0.0.1:{}", berth.port);
    let account = berth.account_id.clone();
    let work = tempfile::tempdir().unwrap();

    // A CREATE_ON_PUSH template for team/: immutable tags, a resource tag and a lifecycle policy.
    let lifecycle = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#;
    let created = aws_ok(
        &berth,
        "ecr",
        &[
            "create-repository-creation-template",
            "--prefix",
            "team",
            "--applied-for",
            "CREATE_ON_PUSH",
            "--image-tag-mutability",
            "IMMUTABLE",
            "--resource-tags",
            "Key=owner,Value=team",
            "--lifecycle-policy",
            lifecycle,
        ],
    );
    assert_eq!(created["repositoryCreationTemplate"]["prefix"], "team");
    assert_eq!(created["repositoryCreationTemplate"]["encryptionConfiguration"]["encryptionType"], "AES256");
    let e = aws_err(
        &berth,
        "ecr",
        &["create-repository-creation-template", "--prefix", "team", "--applied-for", "CREATE_ON_PUSH"],
    );
    assert!(e.contains("TemplateAlreadyExistsException"), "{e}");
    let e = aws_err(
        &berth,
        "ecr",
        &["create-repository-creation-template", "--prefix", "Team!", "--applied-for", "CREATE_ON_PUSH"],
    );
    assert!(e.contains("ValidationException"), "{e}");
    let e = aws_err(&berth, "ecr", &["update-repository-creation-template", "--prefix", "nope", "--description", "x"]);
    assert!(e.contains("TemplateNotFoundException"), "{e}");
    let updated =
        aws_ok(&berth, "ecr", &["update-repository-creation-template", "--prefix", "team", "--description", "ours"]);
    assert_eq!(updated["repositoryCreationTemplate"]["description"], "ours");
    assert_eq!(updated["repositoryCreationTemplate"]["imageTagMutability"], "IMMUTABLE");
    let listed = aws_ok(&berth, "ecr", &["describe-repository-creation-templates"]);
    assert_eq!(listed["repositoryCreationTemplates"].as_array().unwrap().len(), 1);

    // docker push to team/svc creates it from the template; to a name no template covers, NAME_UNKNOWN.
    let image = format!("{host}/team/svc:v1");
    build_image(&work.path().join("img"), &image, 32 * 1024);
    docker_login(&host, &login_password(&berth));
    docker(&["push", &image]).unwrap();
    let repo = aws_ok(&berth, "ecr", &["describe-repositories", "--repository-names", "team/svc"]);
    assert_eq!(repo["repositories"][0]["imageTagMutability"], "IMMUTABLE");
    let arn = repo["repositories"][0]["repositoryArn"].as_str().unwrap().to_string();
    let tags = aws_ok(&berth, "ecr", &["list-tags-for-resource", "--resource-arn", &arn]);
    assert_eq!(tags["tags"][0]["Key"], "owner");
    let policy = aws_ok(&berth, "ecr", &["get-lifecycle-policy", "--repository-name", "team/svc"]);
    assert!(policy["lifecyclePolicyText"].as_str().unwrap().contains("imageCountMoreThan"));
    let stray = format!("{host}/elsewhere/svc:v1");
    docker(&["tag", &image, &stray]).unwrap();
    let refused = docker(&["push", &stray]).unwrap_err().to_string();
    assert!(refused.to_lowercase().contains("name unknown"), "{refused}");
    let e = aws_err(&berth, "ecr", &["describe-repositories", "--repository-names", "elsewhere/svc"]);
    assert!(e.contains("RepositoryNotFoundException"), "{e}");
    let _ = docker(&["rmi", &image, &stray]);
    let _ = docker(&["logout", &host]);

    // A user with no identity policy at all: the repository policy alone lets it read team/svc.
    aws_ok(&berth, "iam", &["create-user", "--user-name", "reader"]);
    let reader = user_env(&aws_ok(&berth, "iam", &["create-access-key", "--user-name", "reader"]));
    aws_ok(&berth, "ecr", &["create-repository", "--repository-name", "other"]);
    let denied = as_user(&berth, &reader, &["describe-images", "--repository-name", "team/svc"]).unwrap_err();
    assert!(denied.contains("AccessDeniedException"), "{denied}");
    let e = aws_err(&berth, "ecr", &["get-repository-policy", "--repository-name", "team/svc"]);
    assert!(e.contains("RepositoryPolicyNotFoundException"), "{e}");
    let e = aws_err(&berth, "ecr", &["set-repository-policy", "--repository-name", "team/svc", "--policy-text", "{}"]);
    assert!(e.contains("InvalidParameterException"), "{e}");
    let reader_arn = format!("arn:aws:iam::{account}:user/reader");
    let allow = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ReaderPulls",
            "Effect": "Allow",
            "Principal": {"AWS": reader_arn},
            "Action": ["ecr:DescribeImages", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                       "ecr:BatchCheckLayerAvailability"]
        }]
    })
    .to_string();
    let set =
        aws_ok(&berth, "ecr", &["set-repository-policy", "--repository-name", "team/svc", "--policy-text", &allow]);
    assert_eq!(set["repositoryName"], "team/svc");
    let got = aws_ok(&berth, "ecr", &["get-repository-policy", "--repository-name", "team/svc"]);
    assert_eq!(got["policyText"], allow.as_str());
    let images = as_user(&berth, &reader, &["describe-images", "--repository-name", "team/svc"]).unwrap();
    assert_eq!(images["imageDetails"][0]["imageTags"][0], "v1");
    let pulled =
        as_user(&berth, &reader, &["batch-get-image", "--repository-name", "team/svc", "--image-ids", "imageTag=v1"])
            .unwrap();
    assert_eq!(pulled["images"].as_array().unwrap().len(), 1);
    let e = as_user(&berth, &reader, &["describe-images", "--repository-name", "other"]).unwrap_err();
    assert!(e.contains("AccessDeniedException"), "{e}");
    let e = as_user(
        &berth,
        &reader,
        &["put-image-tag-mutability", "--repository-name", "team/svc", "--image-tag-mutability", "MUTABLE"],
    )
    .unwrap_err();
    assert!(e.contains("AccessDeniedException"), "{e}");

    // Over /v2/: with only ecr:GetAuthorizationToken of its own, the reader pulls team/svc (the repository policy
    // allows it) and nothing else.
    let token_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}]}"#;
    aws_ok(
        &berth,
        "iam",
        &["put-user-policy", "--user-name", "reader", "--policy-name", "token", "--policy-document", token_only],
    );
    let password = as_user(&berth, &reader, &["get-authorization-token"]).unwrap();
    let token = password["authorizationData"][0]["authorizationToken"].as_str().unwrap();
    let creds = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(token).unwrap()).unwrap();
    skopeo(&["inspect", "--tls-verify=false", "--creds", &creds, &format!("docker://{host}/team/svc:v1")]).unwrap();
    let e = skopeo(&["inspect", "--tls-verify=false", "--creds", &creds, &format!("docker://{host}/other:v1")])
        .unwrap_err();
    assert!(e.to_lowercase().contains("denied"), "{e}");

    // An explicit deny in the repository policy wins over the allow.
    let with_deny = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": reader_arn}, "Action": "ecr:*"},
            {"Effect": "Deny", "Principal": {"AWS": reader_arn}, "Action": "ecr:BatchGetImage"}
        ]
    })
    .to_string();
    aws_ok(&berth, "ecr", &["set-repository-policy", "--repository-name", "team/svc", "--policy-text", &with_deny]);
    as_user(&berth, &reader, &["describe-images", "--repository-name", "team/svc"]).unwrap();
    let e =
        as_user(&berth, &reader, &["batch-get-image", "--repository-name", "team/svc", "--image-ids", "imageTag=v1"])
            .unwrap_err();
    assert!(e.contains("AccessDeniedException") && e.contains("explicit deny"), "{e}");
    let e = skopeo(&["inspect", "--tls-verify=false", "--creds", &creds, &format!("docker://{host}/team/svc:v1")])
        .unwrap_err();
    assert!(e.to_lowercase().contains("denied"), "{e}");

    // Deleting the policy takes the access away again.
    let deleted = aws_ok(&berth, "ecr", &["delete-repository-policy", "--repository-name", "team/svc"]);
    assert_eq!(deleted["policyText"], with_deny.as_str());
    let e = as_user(&berth, &reader, &["describe-images", "--repository-name", "team/svc"]).unwrap_err();
    assert!(e.contains("AccessDeniedException"), "{e}");
    aws_ok(&berth, "ecr", &["delete-repository-creation-template", "--prefix", "team"]);
}

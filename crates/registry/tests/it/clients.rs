//! Real clients: docker login/push/pull, skopeo copy both ways, the aws CLI.
//! These fail (never skip) when docker, skopeo or aws are missing.

use crate::common::image::{self, OCI_MANIFEST, write_oci_layout};
use crate::common::{TestServer, run, run_async};
use serde_json::{Value, json};
use std::process::{Command, Stdio};

/// Removes the docker images a test created, whatever happens.
struct DockerImages(Vec<String>);

impl Drop for DockerImages {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", name]).output();
        }
    }
}

fn multi_layer_image(label: &str) -> image::TestImage {
    let mut layers = vec![image::layer(&[
        image::Entry("etc/", None),
        image::Entry("etc/berth-release", Some(format!("label={label}\n").as_bytes())),
    ])];
    for i in 0..3 {
        layers.push(image::random_layer(i + label.len() as u64 * 100, 300_000 + i as usize * 1000));
    }
    image::image(layers, OCI_MANIFEST, label)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_login_push_pull_multi_layer_image() {
    let server = TestServer::start().await;
    server.create_repo("team/web").await;
    let password = server.password().await;
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let local = format!("berth-registry-test/{nonce}:v1");
    let remote = format!("{}/team/web:v1", server.addr);
    let _cleanup = DockerImages(vec![local.clone(), remote.clone()]);
    let layout = tempfile::tempdir().unwrap();
    let img = multi_layer_image(&nonce);
    write_oci_layout(layout.path(), &img, "v1");
    run_async({
        let mut c = Command::new("skopeo");
        c.args(["copy", "--quiet", &format!("oci:{}:v1", layout.path().display()), &format!("docker-daemon:{local}")]);
        c
    })
    .await;
    let docker_config = tempfile::tempdir().unwrap();
    let docker = |args: &[&str]| {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", docker_config.path()).args(args);
        c
    };
    // docker login with the GetAuthorizationToken password, through the token-auth challenge.
    let mut login = docker(&["login", &server.addr, "--username", "AWS", "--password-stdin"]);
    login.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = login.spawn().expect("docker is required for this test");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), password.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "docker login: {}", String::from_utf8_lossy(&out.stderr));
    // A wrong password is refused.
    let out = docker(&["login", &server.addr, "-u", "AWS", "-p", "wrong"]).output().unwrap();
    assert!(!out.status.success());

    run_async(docker(&["tag", &local, &remote])).await;
    run_async(docker(&["push", &remote])).await;
    let described = server.ecr_ok("DescribeImages", json!({"repositoryName": "team/web"})).await;
    let detail = &described["imageDetails"][0];
    assert_eq!(detail["imageTags"], json!(["v1"]));
    assert_eq!(detail["imageManifestMediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    let pushed_digest = detail["imageDigest"].as_str().unwrap().to_string();
    let manifest: Value =
        serde_json::from_str(
            server
                .ecr_ok("BatchGetImage", json!({"repositoryName": "team/web", "imageIds": [{"imageTag": "v1"}]}))
                .await["images"][0]["imageManifest"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 4);

    // Remove every local copy and pull it back.
    run_async(docker(&["rmi", &remote, &local])).await;
    let pulled = run_async(docker(&["pull", &remote])).await;
    assert!(pulled.contains(&pushed_digest), "{pulled}");
    let label =
        run_async(docker(&["image", "inspect", "--format", "{{ index .Config.Labels \"test\" }}", &remote])).await;
    assert_eq!(label.trim(), nonce);
    // Pulling without logging in is refused.
    let anonymous = tempfile::tempdir().unwrap();
    let out = Command::new("docker")
        .env("DOCKER_CONFIG", anonymous.path())
        .args(["pull", &format!("{}/team/web:v1", server.addr)])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_push_to_an_immutable_tag_is_refused() {
    let server = TestServer::start().await;
    server.ecr_ok("CreateRepository", json!({"repositoryName": "locked", "imageTagMutability": "IMMUTABLE"})).await;
    let password = server.password().await;
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let remote = format!("{}/locked:v1", server.addr);
    let (a, b) = (format!("berth-registry-test/{nonce}:a"), format!("berth-registry-test/{nonce}:b"));
    let _cleanup = DockerImages(vec![a.clone(), b.clone(), remote.clone()]);
    for (name, label) in [(&a, "a"), (&b, "b")] {
        let layout = tempfile::tempdir().unwrap();
        write_oci_layout(layout.path(), &image::small_image(&format!("{nonce}{label}"), 1), "v1");
        run_async({
            let mut c = Command::new("skopeo");
            c.args([
                "copy",
                "--quiet",
                &format!("oci:{}:v1", layout.path().display()),
                &format!("docker-daemon:{name}"),
            ]);
            c
        })
        .await;
    }
    let docker_config = tempfile::tempdir().unwrap();
    let docker = |args: &[&str]| {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", docker_config.path()).args(args);
        c
    };
    run_async(docker(&["login", &server.addr, "-u", "AWS", "-p", &password])).await;
    run_async(docker(&["tag", &a, &remote])).await;
    run_async(docker(&["push", &remote])).await;
    run_async(docker(&["tag", &b, &remote])).await;
    let mut push = docker(&["push", &remote]);
    let out = tokio::task::spawn_blocking(move || push.output().unwrap()).await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("immutable"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_both_ways() {
    let server = TestServer::start().await;
    server.create_repo("skopeo/app").await;
    let creds = format!("AWS:{}", server.password().await);
    let layout = tempfile::tempdir().unwrap();
    let img = multi_layer_image("skopeo");
    write_oci_layout(layout.path(), &img, "v1");
    let dest = format!("docker://{}/skopeo/app:v1", server.addr);
    run_async({
        let mut c = Command::new("skopeo");
        c.args(["copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", &creds]);
        c.args([&format!("oci:{}:v1", layout.path().display()), &dest]);
        c
    })
    .await;
    // The manifest arrives byte for byte.
    let described = server
        .ecr_ok("DescribeImages", json!({"repositoryName": "skopeo/app", "imageIds": [{"imageTag": "v1"}]}))
        .await;
    assert_eq!(described["imageDetails"][0]["imageDigest"], img.digest.as_str());
    let inspect: Value = serde_json::from_str(
        &run_async({
            let mut c = Command::new("skopeo");
            c.args(["inspect", "--tls-verify=false", "--creds", &creds, &dest]);
            c
        })
        .await,
    )
    .unwrap();
    assert_eq!(inspect["Digest"], img.digest.as_str());
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 4);
    // And back out, into a fresh layout: same manifest, same blobs.
    let out = tempfile::tempdir().unwrap();
    run_async({
        let mut c = Command::new("skopeo");
        c.args(["copy", "--quiet", "--src-tls-verify=false", "--src-creds", &creds]);
        c.args([&dest, &format!("oci:{}:v1", out.path().display())]);
        c
    })
    .await;
    let index: Value = serde_json::from_slice(&std::fs::read(out.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], img.digest.as_str());
    for layer in &img.layers {
        let path = out.path().join("blobs/sha256").join(layer.digest.trim_start_matches("sha256:"));
        assert_eq!(std::fs::read(path).unwrap(), layer.blob);
    }
    // Without credentials, skopeo is refused.
    let out = Command::new("skopeo").args(["inspect", "--tls-verify=false", &dest]).output().unwrap();
    assert!(!out.status.success());
}

fn aws(server: &TestServer, args: &[&str]) -> Command {
    let mut c = Command::new("aws");
    c.env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .args(["--endpoint-url", &format!("http://{}", server.addr), "--output", "json", "ecr"])
        .args(args);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_drives_the_ecr_api() {
    let server = TestServer::start().await;
    let created: Value = serde_json::from_str(
        &run_async(aws(
            &server,
            &[
                "create-repository",
                "--repository-name",
                "cli/app",
                "--image-scanning-configuration",
                "scanOnPush=true",
                "--tags",
                "Key=team,Value=web",
            ],
        ))
        .await,
    )
    .unwrap();
    assert_eq!(created["repository"]["repositoryUri"], format!("{}/cli/app", server.addr).as_str());
    assert_eq!(created["repository"]["imageScanningConfiguration"]["scanOnPush"], true);
    let described: Value = serde_json::from_str(&run_async(aws(&server, &["describe-repositories"])).await).unwrap();
    assert_eq!(described["repositories"][0]["repositoryName"], "cli/app");
    // get-login-password gives the password docker and skopeo use.
    let password = run_async(aws(&server, &["get-login-password"])).await;
    let password = password.trim();
    let oci = crate::common::Oci { http: server.http.clone(), base: server.url(""), token: password.to_string() };
    let img = image::small_image("cli", 2);
    oci.push_image("cli/app", "v1", &img).await;
    let listed: Value =
        serde_json::from_str(&run_async(aws(&server, &["list-images", "--repository-name", "cli/app"])).await).unwrap();
    assert_eq!(listed["imageIds"], json!([{"imageDigest": img.digest, "imageTag": "v1"}]));
    let policy = r#"{"rules":[{"rulePriority":1,"description":"keep one","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
    run_async(aws(
        &server,
        &["put-lifecycle-policy", "--repository-name", "cli/app", "--lifecycle-policy-text", policy],
    ))
    .await;
    let got: Value =
        serde_json::from_str(&run_async(aws(&server, &["get-lifecycle-policy", "--repository-name", "cli/app"])).await)
            .unwrap();
    assert_eq!(got["lifecyclePolicyText"], policy);
    // Errors come back with ECR's exception names.
    let out = aws(&server, &["describe-repositories", "--repository-names", "missing"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RepositoryNotFoundException"));
    let out = aws(&server, &["delete-repository", "--repository-name", "cli/app"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("RepositoryNotEmptyException"));
    run(&mut aws(&server, &["delete-repository", "--repository-name", "cli/app", "--force"]));
    let described: Value = serde_json::from_str(&run_async(aws(&server, &["describe-repositories"])).await).unwrap();
    assert_eq!(described["repositories"], json!([]));
}

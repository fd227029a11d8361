//! Registry hardening against the real `berth server`: slow registry clients do not starve the control plane,
//! adversarial layers keep scan memory bounded (and the findings say what was skipped), files at rest are private
//! whatever the umask, and a 500 shows a request id, not a server path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; SigV4 signs with the real clock

use aws_sdk_ecs::types::ContainerDefinition;
use berth_registry::digest::Digest;
use berth_testkit::{Berth, BerthOptions};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `berth server` (no agent, no Docker needed) from `binary`.
fn server(binary: PathBuf) -> Berth {
    Berth::start(BerthOptions { binary, role: "server", extra_args: Vec::new() }).expect("berth server starts")
}

fn berth_binary() -> PathBuf {
    env!("CARGO_BIN_EXE_berth").into()
}

/// Fails loudly unless this process (and so the server it starts) may open `needed` files.
fn require_fd_limit(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    assert!(soft >= needed, "this test needs `ulimit -n` >= {needed} (it is {soft}); raise it (ulimit -n / prlimit)");
}

/// An ECR call signed as the SDKs sign (service `ecr`); returns the status and the JSON body.
async fn ecr(berth: &Berth, operation: &str, body: Value) -> (u16, Value) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let url = format!("{}/", berth.url());
    let body = serde_json::to_vec(&body).unwrap();
    let headers: Vec<(String, String)> = vec![
        ("host".into(), format!("127.0.0.1:{}", berth.port)),
        ("content-type".into(), "application/x-amz-json-1.1".into()),
        ("x-amz-target".into(), format!("AmazonEC2ContainerRegistry_V20150921.{operation}")),
    ];
    let identity =
        aws_credential_types::Credentials::new(&berth.access_key_id, &berth.secret_access_key, None, None, "test")
            .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("ecr")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().method("POST").uri(&url);
    for (k, v) in &headers {
        request = request.header(k, v);
    }
    let mut request = request.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    let client = reqwest::Client::new();
    let mut post = client.post(&url).body(body);
    for (k, v) in request.headers() {
        if k != "host" {
            post = post.header(k.as_str(), v.to_str().unwrap());
        }
    }
    let response = post.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn ecr_ok(berth: &Berth, operation: &str, body: Value) -> Value {
    let (status, out) = ecr(berth, operation, body.clone()).await;
    assert_eq!(status, 200, "{operation} {body} -> {out}");
    out
}

/// The registry's `Authorization` header: GetAuthorizationToken's token is already `base64(AWS:password)`.
async fn registry_auth(berth: &Berth) -> String {
    let out = ecr_ok(berth, "GetAuthorizationToken", json!({})).await;
    format!("Basic {}", out["authorizationData"][0]["authorizationToken"].as_str().unwrap())
}

async fn create_repository(berth: &Berth, name: &str, scan_on_push: bool) {
    ecr_ok(
        berth,
        "CreateRepository",
        json!({"repositoryName": name, "imageScanningConfiguration": {"scanOnPush": scan_on_push}}),
    )
    .await;
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap()
}

/// Pushes a blob in one request; returns its digest.
async fn push_blob(berth: &Berth, auth: &str, repo: &str, data: Vec<u8>) -> String {
    let digest = Digest::sha256_of(&data).to_string();
    let url = format!("{}/v2/{repo}/blobs/uploads/?digest={digest}", berth.url());
    let response = http().post(url).header("authorization", auth).body(data).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201, "{}", response.text().await.unwrap_or_default());
    digest
}

/// Starts an upload; returns its location (a path).
async fn start_upload(client: &reqwest::Client, berth: &Berth, auth: &str, repo: &str) -> String {
    let url = format!("{}/v2/{repo}/blobs/uploads/", berth.url());
    let response = client.post(url).header("authorization", auth).send().await.expect("the upload starts");
    assert_eq!(response.status().as_u16(), 202);
    response.headers()["location"].to_str().unwrap().to_string()
}

/// Pushes an image of `layers` (digest, size) with a config unique to `label`; returns the manifest digest.
async fn push_image(berth: &Berth, auth: &str, repo: &str, label: &str, layers: &[(String, usize)]) -> String {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {"Labels": {"test": label}},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>()},
    }))
    .unwrap();
    let config_size = config.len();
    let config_digest = push_blob(berth, auth, repo, config).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layers.iter().map(|(digest, size)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size,
        })).collect::<Vec<_>>(),
    }))
    .unwrap();
    let digest = Digest::sha256_of(&manifest).to_string();
    let url = format!("{}/v2/{repo}/manifests/{label}", berth.url());
    let response =
        http().put(url).header("authorization", auth).header("content-type", OCI_MANIFEST).body(manifest).send().await;
    let response = response.unwrap();
    assert_eq!(response.status().as_u16(), 201, "{}", response.text().await.unwrap_or_default());
    digest
}

/// The `p`-th percentile of `samples` (sorted in place).
fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

/// Times one call, counting a call that does not answer within 10 s as 10 s.
async fn timed<T, E: std::fmt::Debug>(call: impl std::future::Future<Output = Result<T, E>>) -> Duration {
    let start = Instant::now();
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(result) => {
            result.expect("the control plane call succeeds");
            start.elapsed()
        }
        Err(_) => Duration::from_secs(10),
    }
}

/// Issue 8, point 2: 600 uploads stalled after 1 byte and 600 downloads of a 16 MiB blob nobody reads are in
/// flight, and CreateCluster, ListClusters, RegisterTaskDefinition and RunTask keep p99 < 1 s while the local
/// agent's reports keep flowing (its tasks reach RUNNING, it stays connected). (Before, each transfer held
/// a thread of tokio's blocking pool, which SQLite calls share: ~520 stalled uploads left CreateCluster
/// unanswered.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_uploads_and_unread_downloads_do_not_starve_the_control_plane() {
    const STALLED: usize = 600;
    const UNREAD: usize = 600;
    require_fd_limit(4 * (STALLED + UNREAD) as u64);
    let (berth, ecs) = crate::common::berth_up().await;
    ecs.register_task_definition()
        .family("busy")
        .container_definitions(crate::common::workload_container("app").memory(16).build())
        .send()
        .await
        .expect("register the workload");
    let addr = format!("127.0.0.1:{}", berth.port);
    let auth = registry_auth(&berth).await;
    create_repository(&berth, "slow", false).await;
    // Larger than what the kernel's socket buffers absorb, so the server really waits for each reader.
    let digest = push_blob(&berth, &auth, "slow", vec![0x5a; 16 << 20]).await;

    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut held = Vec::new();
    for _ in 0..STALLED {
        let location = start_upload(&client, &berth, &auth, "slow").await;
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\nx"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    for _ in 0..UNREAD {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(addr.parse().unwrap()).await.unwrap();
        let head = format!("GET /v2/slow/blobs/{digest} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    // Let every transfer reach its stall: the uploads wait for bytes, the downloads for a reader.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut samples = Vec::new();
    let mut started = Vec::new();
    for i in 0..40 {
        if samples.iter().filter(|d| **d >= Duration::from_secs(10)).count() > 2 {
            break; // starved: p99 is already over
        }
        samples.push(timed(ecs.create_cluster().cluster_name(format!("c{i}")).send()).await);
        samples.push(timed(ecs.list_clusters().send()).await);
        let container = ContainerDefinition::builder().name("app").image("busybox").memory(64).build();
        samples.push(
            timed(ecs.register_task_definition().family(format!("f{i}")).container_definitions(container).send()).await,
        );
        if i % 4 == 0 {
            let begin = Instant::now();
            let out = ecs.run_task().task_definition("busy").send().await.expect("RunTask");
            samples.push(begin.elapsed());
            assert!(out.failures().is_empty(), "RunTask failures: {:?}", out.failures());
            started.extend(out.tasks().iter().filter_map(|t| t.task_arn().map(str::to_string)));
        }
    }
    let count = samples.len();
    let p50 = percentile(&mut samples, 0.50);
    let p99 = percentile(&mut samples, 0.99);
    let max = samples[count - 1];
    println!(
        "{count} control plane calls with {STALLED} stalled uploads and {UNREAD} unread downloads: p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?} (p50 {p50:?}, max {max:?})");

    // The agent's reports got through: every task started above runs, and the instance is still connected.
    let begin = Instant::now();
    for arn in &started {
        crate::common::wait_status(&ecs, arn, "RUNNING", Duration::from_secs(60)).await;
    }
    println!("{} tasks RUNNING {:?} after the last RunTask", started.len(), begin.elapsed());
    let instances = ecs.list_container_instances().send().await.unwrap();
    let described = ecs
        .describe_container_instances()
        .set_container_instances(Some(instances.container_instance_arns().to_vec()))
        .send()
        .await
        .unwrap();
    assert!(described.container_instances().iter().all(|i| i.agent_connected()), "the agent lost its connection");

    // The registry itself still answers.
    let start = Instant::now();
    let base = client.get(format!("{}/v2/", berth.url())).header("authorization", &auth).send().await.unwrap();
    assert_eq!(base.status().as_u16(), 200);
    assert!(start.elapsed() < Duration::from_secs(1), "/v2/ took {:?}", start.elapsed());
    drop(held);
}

/// A tar header (ustar) for a regular file.
fn tar_header(path: &str, size: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    let mut field = |offset: usize, value: &[u8]| h[offset..offset + value.len()].copy_from_slice(value);
    field(0, path.as_bytes());
    field(100, b"0000644\0");
    field(108, b"0000000\0");
    field(116, b"0000000\0");
    field(124, format!("{size:011o}\0").as_bytes());
    field(136, b"13000000000\0");
    field(148, b"        ");
    field(156, b"0");
    field(257, b"ustar\0");
    field(263, b"00");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// Raw deflate of `data` from a fresh compressor, ending byte-aligned with a full flush (not final), so such
/// pieces concatenate into one valid deflate stream; `last` ends the stream instead.
fn deflate_piece(data: &[u8], last: bool) -> Vec<u8> {
    let mut compress = flate2::Compress::new(flate2::Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let flush = if last { flate2::FlushCompress::Finish } else { flate2::FlushCompress::Full };
    compress.compress_vec(data, &mut out, flush).unwrap();
    assert_eq!(compress.total_in(), data.len() as u64);
    out
}

/// A single-member gzip tar layer of files of zeros, `(path, size)` with sizes in whole MiB, built without
/// compressing the zeros more than once (zeros inflate ~1000x: 64 GiB of files is ~64 MiB of gzip).
fn zero_layer(files: &[(String, u64)]) -> Vec<u8> {
    const MIB: u64 = 1 << 20;
    let zeros = vec![0u8; MIB as usize];
    let zero_piece = deflate_piece(&zeros, false);
    let mut zero_crc = flate2::Crc::new();
    zero_crc.update(&zeros);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let (mut crc, mut total) = (flate2::Crc::new(), 0u64);
    for (path, size) in files {
        assert_eq!(size % MIB, 0);
        let header = tar_header(path, *size);
        out.extend(deflate_piece(&header, false));
        crc.update(&header);
        for _ in 0..size / MIB {
            out.extend_from_slice(&zero_piece);
            crc.combine(&zero_crc);
        }
        total += 512 + size;
    }
    let trailer = [0u8; 1024];
    out.extend(deflate_piece(&trailer, true));
    crc.update(&trailer);
    total += 1024;
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out
}

/// The resident set of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Issue 8, point 5: 20 scans at once of adversarial layers (1,000 lock files of 64 MiB zeros; a layer that
/// expands to 1 GiB from ~1 MiB of gzip) keep the server's RSS growth under 256 MiB, complete, and say in their
/// status description what they did not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adversarial_layers_keep_scan_memory_bounded_and_say_what_was_skipped() {
    let berth = server(berth_binary());
    let pid = berth.pid().unwrap();
    let auth = registry_auth(&berth).await;
    create_repository(&berth, "bombs", true).await;
    let lockfiles: Vec<(String, u64)> = (0..1000).map(|i| (format!("app{i}/Cargo.lock"), 64 << 20)).collect();
    let lockfiles = zero_layer(&lockfiles);
    let expands = zero_layer(&[("srv/Cargo.lock".to_string(), 1 << 30)]);
    println!("layers: {} bytes of gzip for 64 GiB of lock files, {} bytes for 1 GiB", lockfiles.len(), expands.len());
    let lockfiles = (push_blob(&berth, &auth, "bombs", lockfiles.clone()).await, lockfiles.len());
    let expands = (push_blob(&berth, &auth, "bombs", expands.clone()).await, expands.len());

    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss(pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // Twenty images (distinct configs, shared layers), each scanned on push: twenty scans at once.
    let mut images = Vec::new();
    for i in 0..10 {
        let tag = format!("locks{i}");
        images.push((push_image(&berth, &auth, "bombs", &tag, std::slice::from_ref(&lockfiles)).await, "locks"));
        let tag = format!("expands{i}");
        images.push((push_image(&berth, &auth, "bombs", &tag, std::slice::from_ref(&expands)).await, "expands"));
    }
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut done = Vec::new();
    for (digest, kind) in &images {
        let out = loop {
            let body = json!({"repositoryName": "bombs", "imageId": {"imageDigest": digest}});
            let (status, out) = ecr(&berth, "DescribeImageScanFindings", body).await;
            if status == 200 && out["imageScanStatus"]["status"] != "IN_PROGRESS" {
                break out;
            }
            assert!(Instant::now() < deadline, "the scan of {digest} did not complete: {out}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        done.push((out, *kind));
    }
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    let growth = peak.saturating_sub(before);
    println!("server RSS before the scans {} MiB, peak {} MiB, growth {} MiB", before >> 20, peak >> 20, growth >> 20);
    assert!(growth < 256 << 20, "RSS grew by {} MiB", growth >> 20);
    for (i, (out, kind)) in done.into_iter().enumerate() {
        assert_eq!(out["imageScanStatus"]["status"], "COMPLETE", "{out}");
        let description = out["imageScanStatus"]["description"].as_str().unwrap();
        if i < 2 {
            println!("{kind}: {description}");
        }
        assert!(description.contains("Not scanned:"), "{description}");
        let file = if kind == "locks" { "app0/Cargo.lock, 67108864 bytes" } else { "srv/Cargo.lock, 1073741824 bytes" };
        assert!(description.contains(file), "{description}");
        assert!(description.contains("layer 0: not read past"), "{description}");
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every directory and file under `dir`, with its mode.
fn modes(dir: &Path, out: &mut Vec<(PathBuf, bool, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let is_dir = path.is_dir();
        out.push((path.clone(), is_dir, mode(&path)));
        if is_dir {
            modes(&path, out);
        }
    }
}

/// Issue 8, point 10: under umask 022 the registry's directories are 0700 and its blobs and files 0600; a 500
/// carries a generic message and a request id (body and header), and the detail (a server path) is in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_files_are_private_and_500s_show_no_paths() {
    let wrapper_dir = tempfile::tempdir().unwrap();
    let wrapper = wrapper_dir.path().join("berth-umask-022");
    std::fs::write(&wrapper, format!("#!/bin/sh\numask 022\nexec '{}' \"$@\"\n", berth_binary().display())).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let berth = server(wrapper);
    let auth = registry_auth(&berth).await;
    create_repository(&berth, "private", false).await;
    push_blob(&berth, &auth, "private", b"a private layer".repeat(100)).await;
    let client = http();
    let location = start_upload(&client, &berth, &auth, "private").await;

    let root = berth.data_dir.path().join("data").join("registry");
    let mut found = vec![(root.clone(), true, mode(&root))];
    modes(&root, &mut found);
    assert!(found.iter().any(|(p, d, _)| !d && p.to_string_lossy().contains("/blobs/sha256/")), "{found:?}");
    for (path, is_dir, mode) in &found {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:o}, not {want:o}", path.display());
    }

    // Make the upload's data file a directory: appending to it fails inside the server.
    let id = location.rsplit('/').next().unwrap();
    let data = root.join("uploads").join(id).join("data");
    std::fs::remove_file(&data).unwrap();
    std::fs::create_dir(&data).unwrap();
    let response = client
        .patch(format!("{}{location}", berth.url()))
        .header("authorization", &auth)
        .header("content-type", "application/octet-stream")
        .body(b"some bytes".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let request_id = response.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
    let body = response.text().await.unwrap();
    let data_dir = berth.data_dir.path().display().to_string();
    assert!(!body.contains(&data_dir) && !body.contains("/uploads/") && !body.contains("directory"), "{body}");
    let request_id = request_id.expect("an x-request-id header");
    assert!(body.contains(&request_id), "{body}");
    let log = berth.log();
    let line = log.lines().find(|l| l.contains(&request_id)).expect("the log names the request id");
    assert!(line.contains(id), "the log line has the detail: {line}");
}

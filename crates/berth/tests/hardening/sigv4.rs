//! Issue 8, points 3 (last sentence) and 4: SigV4 as AWS enforces it, checked before the body is read, and
//! per-principal rate limits. Every test drives a real `berth server` over TCP (no Docker needed).

#![allow(clippy::disallowed_methods)] // signatures need the real clock
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common::{ecs_client, ecs_target, raw_request, send};
use berth_testkit::{Berth, BerthOptions};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A `berth server` (no local agent) with extra arguments.
fn server(extra_args: &[&str]) -> Berth {
    Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
    })
    .expect("berth server starts")
}

/// How a request is signed: which headers the signature covers, the scope, and the payload hash.
struct Signing<'a> {
    /// Headers present (and so signed) at signing time, besides `host` and `x-amz-date`.
    signed: &'a [(&'a str, &'a str)],
    region: &'a str,
    service: &'a str,
    unsigned_payload: bool,
}

const JSON: (&str, &str) = ("content-type", "application/x-amz-json-1.1");

/// Signs a POST / with `aws-sigv4` (as the SDKs sign) and returns its headers.
fn sign(berth: &Berth, signing: &Signing<'_>, body: &[u8]) -> http::HeaderMap {
    use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let url = format!("{}/", berth.url());
    let host = format!("127.0.0.1:{}", berth.port);
    let mut headers: Vec<(&str, &str)> = vec![("host", &host)];
    headers.extend(signing.signed.iter().copied());
    let identity =
        aws_credential_types::Credentials::new(&berth.access_key_id, &berth.secret_access_key, None, None, "test")
            .into();
    let mut settings = SigningSettings::default();
    if signing.unsigned_payload {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(signing.region)
        .name(signing.service)
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let payload = if signing.unsigned_payload { SignableBody::UnsignedPayload } else { SignableBody::Bytes(body) };
    let signable = SignableRequest::new("POST", &url, headers.iter().copied(), payload).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method("POST").uri(&url);
    for (k, v) in &headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    req.headers().clone()
}

fn url(berth: &Berth) -> String {
    format!("{}/", berth.url())
}

async fn cluster_status(berth: &Berth, name: &str) -> Option<String> {
    let out = ecs_client(berth).describe_clusters().clusters(name).send().await.unwrap();
    out.clusters().first().and_then(|c| c.status().map(str::to_string))
}

/// The issue's replay: a ListServices signature that does not cover `X-Amz-Target` is reused with
/// `X-Amz-Target: ...DeleteCluster`. Old main: the cluster is deleted. Now: 403 naming the header, and a signature
/// that does cover it cannot be reused for another operation either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_signature_cannot_be_replayed_as_another_operation() {
    let berth = server(&[]);
    let client = ecs_client(&berth);
    client.create_cluster().cluster_name("keep").send().await.unwrap();
    let body = br#"{"cluster":"keep"}"#;

    // Signed over host, x-amz-date and content-type only; the target is added afterwards.
    let mut headers =
        sign(&berth, &Signing { signed: &[JSON], region: "us-east-1", service: "ecs", unsigned_payload: false }, body);
    headers.insert("x-amz-target", ecs_target("ListServices").parse().unwrap());
    let (status, reply) = send(&url(&berth), &headers, body.to_vec()).await;
    assert_eq!((status, reply["__type"].as_str()), (403, Some("InvalidSignatureException")), "{reply}");
    assert!(reply["message"].as_str().unwrap().contains("not signed: x-amz-target"), "{reply}");
    headers.insert("x-amz-target", ecs_target("DeleteCluster").parse().unwrap());
    let (status, reply) = send(&url(&berth), &headers, body.to_vec()).await;
    assert_eq!((status, reply["__type"].as_str()), (403, Some("InvalidSignatureException")), "{reply}");
    assert_eq!(cluster_status(&berth, "keep").await.as_deref(), Some("ACTIVE"));

    // Signed over the target: the capture works as itself, and not as DeleteCluster.
    let list = ecs_target("ListServices");
    let mut headers = sign(
        &berth,
        &Signing {
            signed: &[JSON, ("x-amz-target", &list)],
            region: "us-east-1",
            service: "ecs",
            unsigned_payload: false,
        },
        body,
    );
    let (status, reply) = send(&url(&berth), &headers, body.to_vec()).await;
    assert_eq!(status, 200, "{reply}");
    headers.insert("x-amz-target", ecs_target("DeleteCluster").parse().unwrap());
    let (status, reply) = send(&url(&berth), &headers, body.to_vec()).await;
    assert_eq!((status, reply["__type"].as_str()), (403, Some("InvalidSignatureException")), "{reply}");
    assert!(reply["message"].as_str().unwrap().starts_with("The request signature we calculated does not match"));
    assert_eq!(cluster_status(&berth, "keep").await.as_deref(), Some("ACTIVE"));
}

/// The credential scope must name Berth's region and the service the target is for; `UNSIGNED-PAYLOAD` is not
/// accepted on a JSON 1.1 API (a body swapped under it is refused). Old main accepted all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_and_payload_hash_are_enforced() {
    let berth = server(&[]);
    let client = ecs_client(&berth);
    client.create_cluster().cluster_name("keep").send().await.unwrap();
    let list = ecs_target("ListClusters");
    let signed: &[(&str, &str)] = &[JSON, ("x-amz-target", &list)];
    let body = b"{}";

    let headers = sign(&berth, &Signing { signed, region: "eu-west-1", service: "ecs", unsigned_payload: false }, body);
    let (status, reply) = send(&url(&berth), &headers, body.to_vec()).await;
    assert_eq!((status, reply["__type"].as_str()), (403, Some("InvalidSignatureException")), "{reply}");
    assert_eq!(reply["message"], "Credential should be scoped to a valid region.");

    let headers = sign(&berth, &Signing { signed, region: "us-east-1", service: "ecr", unsigned_payload: false }, body);
    let (status, reply) = send(&url(&berth), &headers, body.to_vec()).await;
    assert_eq!((status, reply["__type"].as_str()), (403, Some("InvalidSignatureException")), "{reply}");
    assert_eq!(reply["message"], "Credential should be scoped to correct service: 'ecs'.");

    // UNSIGNED-PAYLOAD, with the signed target: any body could ride on it; AWS hashes the body anyway.
    let delete = ecs_target("DeleteCluster");
    let signed: &[(&str, &str)] = &[JSON, ("x-amz-target", &delete)];
    let headers = sign(&berth, &Signing { signed, region: "us-east-1", service: "ecs", unsigned_payload: true }, b"");
    assert_eq!(headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    let (status, reply) = send(&url(&berth), &headers, br#"{"cluster":"keep"}"#.to_vec()).await;
    assert_eq!((status, reply["__type"].as_str()), (403, Some("InvalidSignatureException")), "{reply}");
    assert_eq!(cluster_status(&berth, "keep").await.as_deref(), Some("ACTIVE"));

    // A claimed payload hash that is not the body's stays refused.
    let mut headers =
        sign(&berth, &Signing { signed, region: "us-east-1", service: "ecs", unsigned_payload: false }, b"{}");
    headers.insert("x-amz-content-sha256", "0".repeat(64).parse().unwrap());
    let (status, reply) = send(&url(&berth), &headers, b"{}".to_vec()).await;
    assert_eq!((status, reply["__type"].as_str()), (403, Some("InvalidSignatureException")), "{reply}");
}

/// Real clients still pass: botocore (ECS and ECR), the `aws-sigv4` crate, `aws-sdk-ecs` and `curl --aws-sigv4`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_still_pass() {
    let berth = server(&[]);
    assert_eq!(ecs_client(&berth).list_clusters().send().await.unwrap().cluster_arns().len(), 1, "aws-sdk-ecs");
    let (status, reply) = raw_request(&berth, Some(&ecs_target("ListClusters")), b"{}", None, None, None).await;
    assert_eq!(status, 200, "aws-sigv4: {reply}");

    let script = r#"
import sys, botocore.session
s = botocore.session.get_session()
kw = dict(region_name='us-east-1', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
print(len(s.create_client('ecs', **kw).list_clusters()['clusterArns']))
print(len(s.create_client('ecr', **kw).describe_repositories()['repositories']))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &berth.url(), &berth.access_key_id, &berth.secret_access_key])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "botocore: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1\n0", "botocore");

    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--aws-sigv4",
            "aws:amz:us-east-1:ecs",
            "--user",
            &format!("{}:{}", berth.access_key_id, berth.secret_access_key),
            "-H",
            &format!("X-Amz-Target: {}", ecs_target("ListClusters")),
            "-H",
            "Content-Type: application/x-amz-json-1.1",
            "-d",
            "{}",
            "-w",
            "\n%{http_code}",
            &url(&berth),
        ])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.ends_with("\n200") && text.contains("clusterArns"), "curl --aws-sigv4: {text}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Sends a POST whose body of `length` zero bytes is streamed while the answer is read; returns the status and
/// the answer's body once the server has answered (whether or not it read the body).
async fn stream_post(port: u16, extra_headers: &str, length: usize) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {}\r\n{extra_headers}Content-Length: {length}\r\n\r\n",
        ecs_target("ListClusters")
    );
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < length {
            let n = chunk.len().min(length - sent);
            writer.write_all(&chunk[..n]).await?;
            sent += n;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no answer within 60 s"),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|l| body.len() >= l) {
                break;
            }
        }
    }
    sender.abort();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// 50 concurrent unsigned 32 MiB POSTs (and 10 with a garbage Authorization header) are answered 403/400 without
/// their bodies being read: the server's RSS grows by less than 50 MiB. Old main read each body (32 MiB) first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_bodies_are_refused_before_they_are_read() {
    let berth = server(&[]);
    let pid = berth.pid().unwrap();
    let port = berth.port;
    let before = rss_kib(pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut requests = Vec::new();
    for i in 0..60 {
        let auth = if i < 50 { String::new() } else { "Authorization: AWS4-HMAC-SHA256 garbage\r\n".to_string() };
        requests.push(tokio::spawn(async move { stream_post(port, &auth, 32 * 1024 * 1024).await }));
    }
    for (i, request) in requests.into_iter().enumerate() {
        let (status, body) = request.await.unwrap();
        let expected =
            if i < 50 { (403, "MissingAuthenticationTokenException") } else { (400, "IncompleteSignatureException") };
        assert_eq!(status, expected.0, "request {i}: {body}");
        assert!(body.contains(expected.1), "request {i}: {body}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    let growth_mib = (peak.saturating_sub(before)) as f64 / 1024.0;
    eprintln!("RSS before {} MiB, peak {} MiB, growth {growth_mib:.1} MiB", before / 1024, peak / 1024);
    assert!(growth_mib < 50.0, "RSS grew by {growth_mib:.1} MiB");
    // The server still answers signed requests.
    assert_eq!(ecs_client(&berth).list_clusters().send().await.unwrap().cluster_arns().len(), 1);
}

/// Per-principal rate limits answer `ThrottlingException` "Rate exceeded" (400, as AWS); other principals and the
/// next second are unaffected. Old main had no limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_over_its_rate_is_throttled() {
    let berth = server(&["--api-rate-limit", "2", "--api-burst", "5"]);
    let target = ecs_target("ListClusters");
    let mut throttled = 0;
    // All at once, so that the count does not depend on how long each request takes on a busy machine (sent one
    // after another at 0.3 s each, the bucket refilled as fast as they came).
    let replies =
        futures::future::join_all((0..20).map(|_| raw_request(&berth, Some(&target), b"{}", None, None, None))).await;
    for (status, reply) in replies {
        match status {
            200 => {}
            400 => {
                assert_eq!(
                    (reply["__type"].as_str(), reply["message"].as_str()),
                    (Some("ThrottlingException"), Some("Rate exceeded"))
                );
                throttled += 1;
            }
            other => panic!("unexpected {other}: {reply}"),
        }
    }
    assert!(throttled >= 10, "only {throttled} of 20 requests were throttled at 2/s with a burst of 5");
    // The SDK retries throttling by itself and gets through.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ecs_client(&berth).list_clusters().send().await.unwrap().cluster_arns().len(), 1);
}

//! Crash safety: `kill -9` of a registry process mid-upload leaves no partial blob visible, and a restarted
//! registry serves exactly what was committed before.

use crate::common::image::sha256;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use tokio::io::AsyncWriteExt;

struct DevServer {
    child: Child,
    addr: String,
    token: String,
}

impl DevServer {
    fn start(data: &Path) -> DevServer {
        let token_file = data.join("token");
        let mut child = Command::new(env!("CARGO_BIN_EXE_registry-dev"))
            .args(["--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(["--token-file", token_file.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on ").expect("registry-dev did not start").to_string();
        let token = std::fs::read_to_string(token_file).unwrap();
        DevServer { child, addr, token }
    }

    fn kill9(mut self) {
        // Child::kill sends SIGKILL on Unix: no destructor, no flush, no cleanup runs in the registry.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    async fn ecr(&self, op: &str, body: serde_json::Value) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(format!("http://{}/", self.addr))
            .header("x-amz-target", format!("AmazonEC2ContainerRegistry_V20150921.{op}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    fn http(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") { path.to_string() } else { format!("http://{}{path}", self.addr) };
        reqwest::Client::new().request(method, url).bearer_auth(&self.token)
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every blob file's content hashes to its name: nothing partial or corrupt is visible.
fn blobs_verify(root: &Path) -> usize {
    let dir = root.join("registry/blobs/sha256");
    let mut n = 0;
    for shard in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(shard.path()).unwrap().flatten() {
            let data = std::fs::read(f.path()).unwrap();
            assert_eq!(sha256(&data), format!("sha256:{}", f.file_name().to_string_lossy()), "corrupt blob {f:?}");
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_upload_leaves_no_partial_blob() {
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start(data.path());
    server.ecr("CreateRepository", json!({"repositoryName": "crash"})).await;
    // A committed blob, and a chunked upload in progress (1 MiB received).
    let committed = b"committed before the crash".to_vec();
    let committed_digest = sha256(&committed);
    let r = server
        .http(reqwest::Method::POST, &format!("/v2/crash/blobs/uploads/?digest={committed_digest}"))
        .body(committed.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let first: Vec<u8> = (0..1_048_576u32).map(|i| (i % 241) as u8).collect();
    let second: Vec<u8> = (0..524_288u32).map(|i| (i % 239) as u8).collect();
    let r = server.http(reqwest::Method::POST, "/v2/crash/blobs/uploads/").send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let r = server
        .http(reqwest::Method::PATCH, &location)
        .header("content-range", "0-1048575")
        .body(first.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    // A 64 MiB monolithic upload, killed half way through the body.
    let size = 64usize << 20;
    let big: Vec<u8> = (0..size).map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[1]).collect();
    let big_digest = sha256(&big);
    let mut stream = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let head = format!(
        "POST /v2/crash/blobs/uploads/?digest={big_digest} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: {size}\r\n\r\n",
        server.addr, server.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&big[..size / 2]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.kill9();
    drop(stream);

    // Whatever was on disk at the kill: no partial blob is visible, every stored blob verifies.
    assert_eq!(blobs_verify(data.path()), 1);
    let server = DevServer::start(data.path());
    let r = server.http(reqwest::Method::HEAD, &format!("/v2/crash/blobs/{big_digest}")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = server.http(reqwest::Method::GET, &format!("/v2/crash/blobs/{committed_digest}")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), committed);
    // The chunked session survived the restart and completes (its hash is recomputed from disk).
    let r = server.http(reqwest::Method::GET, &format!("http://{}{location}", server.addr)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-1048575");
    let mut whole = first.clone();
    whole.extend_from_slice(&second);
    let whole_digest = sha256(&whole);
    let r = server
        .http(reqwest::Method::PUT, &format!("http://{}{location}?digest={whole_digest}", server.addr))
        .header("content-range", "1048576-1572863")
        .body(second)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = server.http(reqwest::Method::GET, &format!("/v2/crash/blobs/{whole_digest}")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), whole);
    assert_eq!(blobs_verify(data.path()), 2);
    // The abandoned half upload is still a session (uploads expire after upload_ttl), never a blob.
    let uploads = std::fs::read_dir(data.path().join("registry/uploads")).unwrap().count();
    assert!(uploads <= 1, "{uploads} upload directories left");
}

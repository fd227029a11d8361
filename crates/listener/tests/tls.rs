//! HTTPS on a Berth listener: a client trusting the certificate gets answers over TLS (keep-alive included), a
//! client that does not trust it fails its handshake, plain HTTP gets a 400 saying the port serves HTTPS, and a
//! client that never finishes its handshake is cut at the header timeout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // timeouts of real sockets are measured on the real clock

use axum::Router;
use axum::routing::get;
use berth_listener::{Limits, Tls, serve_tls};
use rustls_pki_types::ServerName;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Served {
    addr: SocketAddr,
    cert_der: rustls_pki_types::CertificateDer<'static>,
}

async fn start() -> Served {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let tls = Tls::from_pem(
        cert.pem().as_bytes(),
        Path::new("cert.pem"),
        key.serialize_pem().as_bytes(),
        Path::new("key.pem"),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits { header_timeout: Duration::from_millis(500), ..Limits::default() };
    let app = Router::new().route("/", get(|| async { "ok over tls" }));
    tokio::spawn(serve_tls(listener, tls, app, limits, std::future::pending()));
    Served { addr, cert_der: cert.der().clone() }
}

fn connector(trusted: Option<&rustls_pki_types::CertificateDer<'static>>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(cert) = trusted {
        roots.add(cert.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Reads one `Content-Length` response off `stream`.
async fn read_response<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed mid-response: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap();
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_trusting_client_is_served_over_tls_with_keep_alive() {
    let served = start().await;
    let tcp = TcpStream::connect(served.addr).await.unwrap();
    let mut tls =
        connector(Some(&served.cert_der)).connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), None, "no ALPN was offered");
    for _ in 0..2 {
        tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
        let response = read_response(&mut tls).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ok over tls"), "{response}");
    }
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_fails_its_handshake() {
    let served = start().await;
    let tcp = TcpStream::connect(served.addr).await.unwrap();
    let error = connector(None).connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    // The certificate names localhost and 127.0.0.1, not another host.
    let tcp = TcpStream::connect(served.addr).await.unwrap();
    let error = connector(Some(&served.cert_der))
        .connect(ServerName::try_from("elsewhere.example").unwrap(), tcp)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not valid for name"), "{error}");
}

#[tokio::test]
async fn plain_http_is_answered_400_and_closed() {
    let served = start().await;
    let mut tcp = TcpStream::connect(served.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut all = String::new();
    tcp.read_to_string(&mut all).await.unwrap();
    assert!(all.starts_with("HTTP/1.1 400"), "{all}");
    assert!(all.ends_with("This port serves HTTPS: use https:// to reach it."), "{all}");
}

#[tokio::test]
async fn a_stalled_handshake_is_cut_at_the_header_timeout() {
    let served = start().await;
    let mut tcp = TcpStream::connect(served.addr).await.unwrap();
    // The first byte of a TLS handshake record, then nothing.
    tcp.write_all(&[0x16]).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "the server closed without answering");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

//! HTTP/2 (h2c and over TLS with ALPN), HTTPS with HTTP/1.1, and WebSocket upgrades through the proxy.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fail loudly by design

mod common;

use berth_lb::config::*;
use bytes::Bytes;
use common::*;
use futures::{SinkExt, StreamExt};
use http::{Request, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const CA: &str = include_str!("fixtures/ca.pem");
const CERT: &str = include_str!("fixtures/cert.pem");
const KEY: &str = include_str!("fixtures/key.pem");

/// An HTTPS load balancer on 127.0.0.1:`port` forwarding to `tg`.
fn https_lb(port: u16, tg: TargetGroup) -> Config {
    let mut config = lb(port, vec![], forward(&tg.id), vec![tg]);
    let l = &mut config.load_balancers[0].listeners[0];
    l.protocol = ListenerProtocol::Https;
    l.certificate = Some(Certificate { chain_pem: CERT.into(), key_pem: KEY.into() });
    config
}

async fn tls_connect(port: u16, alpn: &[&[u8]]) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(CA.as_bytes()).unwrap()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap()
}

/// Sends GET `path` over an HTTP/2 connection on `io`; returns the version, status and body.
async fn h2_get<I>(io: I, authority: &str, path: &str) -> (Version, u16, String)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("http://{authority}{path}")).body(Empty::<Bytes>::new()).unwrap();
    let resp = send.send_request(req).await.unwrap();
    let (version, status) = (resp.version(), resp.status().as_u16());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (version, status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn h2c_with_prior_knowledge() {
    let a = Backend::start("a").await;
    let port = free_port();
    let proxy = system_proxy();
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &[&a])])).await.unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (version, status, body) = h2_get(tcp, &format!("127.0.0.1:{port}"), "/").await;
    assert_eq!((version, status, body.as_str()), (Version::HTTP_2, 200, "a"));
    // the target got HTTP/1.1 with a Host header made from the :authority
    assert_eq!(a.header("host"), Some(format!("127.0.0.1:{port}")));
}

#[tokio::test]
async fn tls_with_alpn_h2_and_http1() {
    let a = Backend::start("a").await;
    let port = free_port();
    let proxy = system_proxy();
    proxy.apply(https_lb(port, group("tg", &[&a]))).await.unwrap();

    let tls = tls_connect(port, &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (version, status, body) = h2_get(tls, &format!("localhost:{port}"), "/big?n=70000").await;
    assert_eq!((version, status, body.len()), (Version::HTTP_2, 200, 70000));
    assert_eq!(a.header("x-forwarded-proto").as_deref(), Some("https"));

    let tls = tls_connect(port, &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get("/").header("host", format!("localhost:{port}")).body(Empty::<Bytes>::new()).unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_11);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"a");
}

#[tokio::test]
async fn websocket_upgrade_echoes_both_ways() {
    let a = Backend::start("a").await;
    let port = free_port();
    let proxy = system_proxy();
    proxy.apply(lb(port, vec![], forward("tg"), vec![group("tg", &[&a])])).await.unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/ws"), tcp).await.unwrap();
    assert_eq!(resp.status(), 101);
    for i in 0..5 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), format!("hello {i}"));
    }
    let big = vec![7u8; 200_000];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap().into_data().as_ref(), &big[..]);
    ws.close(None).await.unwrap();
}

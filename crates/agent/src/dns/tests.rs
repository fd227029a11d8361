use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A query for `name` (type A) with `id`.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// A stub upstream on loopback answering every query (UDP and TCP) with its question and `tag` as the last
/// answer byte's stand-in: the response bit set, ANCOUNT = `tag`.
async fn stub(tag: u8) -> SocketAddr {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let respond = move |q: &[u8]| {
        let mut r = q.to_vec();
        r[2] |= 0x80;
        r[7] = tag;
        r
    };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
            udp.send_to(&respond(&buf[..n]), peer).await.unwrap();
        }
    });
    tokio::spawn(async move {
        loop {
            let (mut s, _) = tcp.accept().await.unwrap();
            let n = s.read_u16().await.unwrap() as usize;
            let mut q = vec![0u8; n];
            s.read_exact(&mut q).await.unwrap();
            let r = respond(&q);
            let mut framed = (r.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&r);
            s.write_all(&framed).await.unwrap();
        }
    });
    addr
}

/// A loopback address nothing listens on (a bound and dropped UDP socket's).
async fn closed() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap()
}

async fn forwarder(host: Vec<SocketAddr>) -> (DnsForwarder, SocketAddr) {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    (DnsForwarder::serve(Ipv4Addr::LOCALHOST, udp, tcp, host), addr)
}

async fn ask_udp(at: SocketAddr, q: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(q, at).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(8), socket.recv_from(&mut buf)).await.unwrap().unwrap();
    buf.truncate(n);
    buf
}

async fn ask_tcp(at: SocketAddr, q: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(at).await.unwrap();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(q);
    s.write_all(&framed).await.unwrap();
    let n = s.read_u16().await.unwrap() as usize;
    let mut r = vec![0u8; n];
    s.read_exact(&mut r).await.unwrap();
    r
}

#[tokio::test]
async fn relays_to_the_server_first_then_the_hosts_resolvers() {
    let (server, host) = (stub(1).await, stub(2).await);
    let (f, at) = forwarder(vec![host]).await;
    let q = query(0x4242, "web.corp.local");
    let r = ask_udp(at, &q).await;
    assert_eq!((&r[..2], r[7]), (&[0x42, 0x42][..], 2), "no server yet: the host's resolver");
    f.set_server(Some(server));
    let r = ask_udp(at, &q).await;
    assert_eq!((&r[..2], r[7], &r[12..]), (&[0x42, 0x42][..], 1, &q[12..]), "the server's DNS, with the client's id");
    let r = ask_tcp(at, &q).await;
    assert_eq!((&r[..2], r[7]), (&[0x42, 0x42][..], 1), "over TCP too");
    // The server's DNS is down: the host's resolver answers (a refused port fails at once).
    f.set_server(Some(closed().await));
    let r = ask_udp(at, &q).await;
    assert_eq!(r[7], 2);
    let r = ask_tcp(at, &q).await;
    assert_eq!(r[7], 2);
}

#[tokio::test]
async fn nobody_answering_is_servfail() {
    let (f, at) = forwarder(vec![closed().await]).await;
    f.set_server(Some(closed().await));
    let q = query(7, "example.com");
    let r = ask_udp(at, &q).await;
    assert_eq!((&r[..2], r[3] & 0x0f, &r[12..]), (&[0, 7][..], 2, &q[12..]));
    // Not a query (the response bit): no answer; the next query still gets one.
    let mut response = q.clone();
    response[2] |= 0x80;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&response, at).await.unwrap();
    let mut buf = [0u8; 512];
    assert!(tokio::time::timeout(Duration::from_millis(300), socket.recv_from(&mut buf)).await.is_err());
    assert_eq!(ask_udp(at, &q).await[3] & 0x0f, 2);
}

#[test]
fn host_resolvers_and_the_servers_address() {
    let text = "search corp\nnameserver 10.0.0.2\nnameserver 169.254.53.4\nnameserver fe80::1%eth0\n";
    let hosts = host_resolvers(text);
    assert_eq!(hosts, vec!["10.0.0.2:53".parse().unwrap(), "[fe80::1]:53".parse().unwrap()]);
    let server_ip: IpAddr = "192.0.2.7".parse().unwrap();
    assert_eq!(server_address("127.0.0.1:5353", Some(server_ip)), Some("127.0.0.1:5353".parse().unwrap()));
    assert_eq!(server_address("0.0.0.0:5353", Some(server_ip)), Some("192.0.2.7:5353".parse().unwrap()));
    assert_eq!(server_address("0.0.0.0:5353", None), None);
    assert_eq!(server_address("nonsense", Some(server_ip)), None);
}

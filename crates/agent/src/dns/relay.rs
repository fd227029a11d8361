//! Relaying one query: to each upstream in turn (the server's DNS first, then the host's resolvers) until one
//! answers, over the transport the client used. Each attempt uses a new socket connected to the upstream and a
//! random id, which the answer gets back the client's.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long the first upstream (the server's DNS, which itself forwards for up to 2 s) gets.
pub const FIRST_TIMEOUT: Duration = Duration::from_millis(2500);
/// How long each later upstream (a host resolver) gets.
pub const LATER_TIMEOUT: Duration = Duration::from_millis(1500);

/// The first answer of `upstreams` to `query`, asked in turn; the last failure when none answers.
pub async fn relay(upstreams: &[SocketAddr], query: &[u8], tcp: bool) -> io::Result<Vec<u8>> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no upstream resolver");
    for (i, upstream) in upstreams.iter().enumerate() {
        let limit = if i == 0 { FIRST_TIMEOUT } else { LATER_TIMEOUT };
        let attempt = async { if tcp { over_tcp(*upstream, query).await } else { over_udp(*upstream, query).await } };
        match tokio::time::timeout(limit, attempt).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(error)) => last = io::Error::new(error.kind(), format!("{upstream}: {error}")),
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, format!("{upstream} did not answer in time")),
        }
    }
    Err(last)
}

/// `query` with a fresh random id, and the client's id.
fn with_new_id(query: &[u8]) -> (Vec<u8>, [u8; 2]) {
    let mut out = query.to_vec();
    let client = [query[0], query[1]];
    out[..2].copy_from_slice(&rand::random::<u16>().to_be_bytes());
    (out, client)
}

async fn over_udp(upstream: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(upstream).await?;
    let (out, client) = with_new_id(query);
    socket.send(&out).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        // A refused port (the server's DNS is down) fails here at once, through the ICMP error.
        let n = socket.recv(&mut buf).await?;
        if n >= super::wire::HEADER && buf[..2] == out[..2] && buf[2] & 0x80 != 0 {
            buf.truncate(n);
            buf[..2].copy_from_slice(&client);
            return Ok(buf);
        }
    }
}

async fn over_tcp(upstream: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    let (out, client) = with_new_id(query);
    let len = u16::try_from(out.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&out);
    stream.write_all(&framed).await?;
    let n = stream.read_u16().await? as usize;
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).await?;
    if n < super::wire::HEADER || buf[..2] != out[..2] {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the upstream answered another query"));
    }
    buf[..2].copy_from_slice(&client);
    Ok(buf)
}

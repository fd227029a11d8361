//! Forwarding a query Berth does not answer to the host's resolvers: over UDP for UDP clients (the upstream's
//! truncation reaches the client, which retries over TCP) and over TCP for TCP clients. Each query uses a new
//! socket connected to the upstream and a random id, restored in the answer.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Sends `query` to the upstreams in turn until one answers, all within `timeout`.
pub async fn forward(upstreams: &[SocketAddr], query: &[u8], tcp: bool, timeout: Duration) -> io::Result<Vec<u8>> {
    if upstreams.is_empty() || query.len() < 12 {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no upstream resolver"));
    }
    let each = timeout / upstreams.len() as u32;
    let mut last = io::Error::new(io::ErrorKind::TimedOut, "no upstream answered");
    for upstream in upstreams {
        let attempt = async { if tcp { over_tcp(*upstream, query).await } else { over_udp(*upstream, query).await } };
        match tokio::time::timeout(each, attempt).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) => last = e,
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, format!("{upstream} did not answer in time")),
        }
    }
    Err(last)
}

/// The query with a fresh random id, and the client's id.
fn reid(query: &[u8]) -> (Vec<u8>, [u8; 2]) {
    let mut out = query.to_vec();
    let client = [query[0], query[1]];
    let id: u16 = rand::random();
    out[..2].copy_from_slice(&id.to_be_bytes());
    (out, client)
}

async fn over_udp(upstream: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(upstream).await?;
    let (out, client) = reid(query);
    socket.send(&out).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket.recv(&mut buf).await?;
        // Only the answer to this query (its id, the response bit) counts; anything else is ignored.
        if n >= 12 && buf[..2] == out[..2] && buf[2] & 0x80 != 0 {
            buf.truncate(n);
            buf[..2].copy_from_slice(&client);
            return Ok(buf);
        }
    }
}

async fn over_tcp(upstream: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    let (out, client) = reid(query);
    let len = u16::try_from(out.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&out);
    stream.write_all(&framed).await?;
    let n = stream.read_u16().await? as usize;
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).await?;
    if n < 12 || buf[..2] != out[..2] {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the upstream answered another query"));
    }
    buf[..2].copy_from_slice(&client);
    Ok(buf)
}

//! Asking upstream resolvers: each attempt uses a new socket connected to the upstream and a random id, which the
//! answer gets back the client's; over UDP for UDP clients (an upstream's truncation reaches the client, which
//! retries over TCP) and over TCP for TCP clients.

use crate::HEADER;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The first answer of `upstreams` to `query`, asked in turn, upstream `i` given `limit(i)`; the last failure
/// (naming its upstream) when none answers.
pub async fn ask_in_turn(
    upstreams: &[SocketAddr],
    query: &[u8],
    tcp: bool,
    limit: impl Fn(usize) -> Duration,
) -> io::Result<Vec<u8>> {
    if query.len() < HEADER {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a DNS message"));
    }
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no upstream resolver");
    for (i, upstream) in upstreams.iter().enumerate() {
        let attempt = async { if tcp { over_tcp(*upstream, query).await } else { over_udp(*upstream, query).await } };
        match tokio::time::timeout(limit(i), attempt).await {
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

/// One exchange over UDP: only the answer to this query (its id, the response bit) counts.
async fn over_udp(upstream: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(upstream).await?;
    let (out, client) = with_new_id(query);
    socket.send(&out).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        // A refused port fails here at once, through the ICMP error.
        let n = socket.recv(&mut buf).await?;
        if n >= HEADER && buf[..2] == out[..2] && buf[2] & 0x80 != 0 {
            buf.truncate(n);
            buf[..2].copy_from_slice(&client);
            return Ok(buf);
        }
    }
}

/// One exchange over TCP (two-byte length prefix each way).
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
    if n < HEADER || buf[..2] != out[..2] {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the upstream answered another query"));
    }
    buf[..2].copy_from_slice(&client);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `a.test` with `id`.
    fn query(id: u16) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 4, b't', b'e', b's', b't', 0, 0, 1, 0, 1]);
        q
    }

    /// A UDP upstream that answers every query with its id, the response bit and `tag` as the last byte.
    async fn udp_upstream(tag: u8) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let at = socket.local_addr().expect("address");
        tokio::spawn(async move {
            let mut buf = vec![0u8; 512];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let mut answer = buf[..n].to_vec();
                answer[2] |= 0x80;
                answer.push(tag);
                let _ = socket.send_to(&answer, peer).await;
            }
        });
        at
    }

    /// A TCP upstream that answers one query per connection the same way.
    async fn tcp_upstream(tag: u8) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let at = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let Ok(n) = stream.read_u16().await else { continue };
                let mut answer = vec![0u8; n as usize];
                if stream.read_exact(&mut answer).await.is_err() {
                    continue;
                }
                answer[2] |= 0x80;
                answer.push(tag);
                let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&answer);
                let _ = stream.write_all(&framed).await;
            }
        });
        at
    }

    /// A UDP port nobody listens on (refused at once).
    async fn closed() -> SocketAddr {
        UdpSocket::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("address")
    }

    #[tokio::test]
    async fn the_first_upstream_that_answers_wins_and_the_clients_id_comes_back() {
        let ten = |_| Duration::from_secs(1);
        let answer = ask_in_turn(&[closed().await, udp_upstream(7).await], &query(0x1234), false, ten).await;
        let answer = answer.expect("the second upstream answers");
        assert_eq!((&answer[..2], answer.last()), (&[0x12, 0x34][..], Some(&7)));
        let answer = ask_in_turn(&[tcp_upstream(9).await], &query(0xbeef), true, ten).await.expect("over TCP");
        assert_eq!((&answer[..2], answer.last()), (&[0xbe, 0xef][..], Some(&9)));
    }

    #[tokio::test]
    async fn no_answer_names_the_last_upstream_and_short_input_is_refused() {
        let dead = closed().await;
        let error = ask_in_turn(&[dead], &query(1), false, |_| Duration::from_millis(300)).await.unwrap_err();
        assert!(error.to_string().contains(&dead.to_string()), "{error}");
        let error = ask_in_turn(&[], &query(1), false, |_| Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        let short = ask_in_turn(&[dead], &[0, 1, 2], false, |_| Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(short.kind(), io::ErrorKind::InvalidInput);
    }
}

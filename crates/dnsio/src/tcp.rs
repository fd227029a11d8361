//! DNS over TCP served with limits: each message is two length bytes then the message; a connection carries
//! queries one after another until the client closes it or stays idle.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// How a TCP listener is served.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections held at once; more are closed as they arrive.
    pub max_connections: usize,
    /// How long a connection may wait for its next query, and a query's bytes may take to arrive.
    pub idle: Duration,
}

/// Serves `listener` for ever: each query read from a connection goes to `answer`, whose reply (if any) is written
/// back; `None` closes the connection (the bytes were no query).
pub async fn serve<F, Fut>(listener: TcpListener, limits: Limits, answer: F)
where
    F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<Vec<u8>>> + Send,
{
    let answer = Arc::new(answer);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else { continue };
        let answer = answer.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = serve_connection(stream, limits.idle, &*answer).await;
        });
    }
}

/// One connection's queries, in turn.
async fn serve_connection<F, Fut>(mut stream: TcpStream, idle: Duration, answer: &F) -> io::Result<()>
where
    F: Fn(Vec<u8>) -> Fut,
    Fut: Future<Output = Option<Vec<u8>>>,
{
    loop {
        let len = match tokio::time::timeout(idle, stream.read_u16()).await {
            Ok(Ok(len)) => len as usize,
            _ => return Ok(()),
        };
        let mut query = vec![0u8; len];
        tokio::time::timeout(idle, stream.read_exact(&mut query))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "slow query"))??;
        let Some(reply) = answer(query).await else { return Ok(()) };
        let Ok(len) = u16::try_from(reply.len()) else { return Ok(()) };
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        stream.write_all(&framed).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ask(stream: &mut TcpStream, message: &[u8]) -> io::Result<Vec<u8>> {
        let mut framed = (message.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(message);
        stream.write_all(&framed).await?;
        let n = stream.read_u16().await?;
        let mut reply = vec![0u8; n as usize];
        stream.read_exact(&mut reply).await?;
        Ok(reply)
    }

    #[tokio::test]
    async fn queries_on_one_connection_are_answered_in_turn_and_none_closes_it() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let at = listener.local_addr().expect("address");
        let limits = Limits { max_connections: 4, idle: Duration::from_secs(5) };
        tokio::spawn(serve(listener, limits, |query: Vec<u8>| async move {
            (query != b"stop").then(|| query.iter().rev().copied().collect())
        }));
        let mut stream = TcpStream::connect(at).await.expect("connect");
        assert_eq!(ask(&mut stream, b"abc").await.expect("first"), b"cba");
        assert_eq!(ask(&mut stream, b"xy").await.expect("second"), b"yx");
        assert!(ask(&mut stream, b"stop").await.is_err(), "no reply: the connection is closed");
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let at = listener.local_addr().expect("address");
        let limits = Limits { max_connections: 1, idle: Duration::from_secs(5) };
        tokio::spawn(serve(listener, limits, |query: Vec<u8>| async move { Some(query) }));
        let mut first = TcpStream::connect(at).await.expect("connect");
        assert_eq!(ask(&mut first, b"hi").await.expect("served"), b"hi");
        let mut second = TcpStream::connect(at).await.expect("connect");
        assert!(ask(&mut second, b"hi").await.is_err(), "the second connection is closed at once");
        drop(first);
    }
}

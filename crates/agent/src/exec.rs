//! ECS Exec on the agent: for each session the server announces ([`berth_model::agent::StreamMessage::Exec`]),
//! dial back to the server with the instance token, run the command in the task's container through the runtime
//! (`docker exec`), and pump [`ExecFrame`]s: standard input, end of input and terminal resizes in, output and
//! finally the exit code out.
//!
//! The agent only ever connects out, so exec works wherever the desired-state stream does. With several servers the
//! session's client may wait on another server than the one the agent streams from (announcements reach every
//! server through the store): the agent dials the servers it knows in turn, its own first, until one admits it
//! (the others refuse a session they do not hold). When the session's
//! socket closes before the command ends, the attachment is dropped: the command loses its standard streams (a
//! shell then sees end of input and hang-up) but Docker has no call to kill an exec, so a command that ignores
//! both keeps running until it ends or its container stops.

use crate::convert::{LABEL_CONTAINER_NAME, LABEL_TASK_ARN};
use crate::runtime::{ContainerRuntime, ExecOutput, ExecProcess};
use berth_model::agent::{EXEC_AGENT_PATH, ExecFrame, ExecStart};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long the agent waits for the engine to record an ended exec's exit code.
const EXIT_CODE_WAIT: Duration = Duration::from_secs(5);

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The WebSocket URL of a session's dial-back, from the server's base URL (`http://host:port`).
pub fn dial_url(server_url: &str, session_id: &str) -> String {
    let base = server_url.trim_end_matches('/');
    let base = match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", base.strip_prefix("http://").unwrap_or(base)),
    };
    format!("{base}{EXEC_AGENT_PATH}{session_id}")
}

/// Serves one session to its end; failures are logged and, when the socket is up, sent to the client.
/// `server_urls` are the servers to dial back to, in turn (the one the agent streams from first); `tls` is the
/// agent's TLS settings for `https://` servers (`wss://` dial-backs verify their certificates).
pub async fn serve<R: ContainerRuntime>(
    runtime: Arc<R>,
    server_urls: Vec<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    token: String,
    start: ExecStart,
) {
    let mut refusals = Vec::new();
    let mut dialled = None;
    for server_url in &server_urls {
        match dial(server_url, tls.clone(), &token, &start.session_id).await {
            Ok(socket) => {
                dialled = Some(socket);
                break;
            }
            Err(error) => refusals.push(format!("{server_url}: {error}")),
        }
    }
    let Some(mut socket) = dialled else {
        let error = refusals.join("; ");
        tracing::warn!(session = %start.session_id, %error, "cannot dial back for an exec session");
        return;
    };
    let outcome = match begin(runtime.as_ref(), &start).await {
        Ok(process) => pump(runtime.as_ref(), &start, process, &mut socket).await,
        Err(message) => Err(message),
    };
    let last = match outcome {
        Ok(Some(code)) => Some(ExecFrame::Exit(code)),
        Ok(None) => None,
        Err(message) => {
            tracing::warn!(session = %start.session_id, task = %start.task_arn, %message, "exec session failed");
            Some(ExecFrame::Error(message))
        }
    };
    if let Some(frame) = last {
        let _ = socket.send(Message::Binary(frame.encode().into())).await;
    }
    let _ = socket.close(None).await;
}

async fn dial(
    server_url: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
    token: &str,
    session_id: &str,
) -> Result<Socket, String> {
    let mut request = dial_url(server_url, session_id).into_client_request().map_err(|e| e.to_string())?;
    let value =
        format!("Bearer {token}").parse().map_err(|_| "the instance token is not a header value".to_string())?;
    request.headers_mut().insert("authorization", value);
    let url = dial_url(server_url, session_id);
    if url.starts_with("wss://") && tls.is_none() {
        return Err("the server is https but the agent has no TLS settings for it".into());
    }
    // Always an explicit connector: rustls with the agent's roots for wss://, plain TCP for ws://.
    let connector = match tls {
        Some(config) => tokio_tungstenite::Connector::Rustls(config),
        None => tokio_tungstenite::Connector::Plain,
    };
    let connect = tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector));
    let (socket, _) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| "no answer in 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(socket)
}

/// Finds the task's container and starts the command in it.
async fn begin<R: ContainerRuntime>(runtime: &R, start: &ExecStart) -> Result<ExecProcess, String> {
    let containers =
        runtime.list_containers(LABEL_TASK_ARN, Some(start.task_arn.as_str())).await.map_err(|e| e.to_string())?;
    let container = containers
        .iter()
        .find(|c| c.running && c.labels.get(LABEL_CONTAINER_NAME) == Some(&start.container_name))
        .ok_or_else(|| format!("container {} of task {} is not running here", start.container_name, start.task_arn))?;
    let process =
        runtime.exec(&container.id, &start.command, start.tty, start.size).await.map_err(|e| e.to_string())?;
    if let (true, Some((rows, cols))) = (start.tty, start.size)
        && let Err(error) = runtime.exec_resize(&process.id, rows, cols).await
    {
        tracing::debug!(%error, "cannot set the exec terminal's initial size");
    }
    tracing::info!(session = %start.session_id, task = %start.task_arn, container = %start.container_name, "exec started");
    Ok(process)
}

/// Pumps frames until the command's output ends (then returns its exit code) or the socket closes (`None`).
async fn pump<R: ContainerRuntime>(
    runtime: &R,
    start: &ExecStart,
    process: ExecProcess,
    socket: &mut Socket,
) -> Result<Option<i32>, String> {
    let ExecProcess { id, mut output, mut input } = process;
    let mut input_open = true;
    loop {
        tokio::select! {
            out = output.next() => match out {
                Some(Ok(out)) => {
                    let frame = match out {
                        ExecOutput::Stdout(b) => ExecFrame::Stdout(b),
                        ExecOutput::Stderr(b) => ExecFrame::Stderr(b),
                    };
                    if socket.send(Message::Binary(frame.encode().into())).await.is_err() {
                        return Ok(None);
                    }
                }
                Some(Err(error)) => return Err(error.to_string()),
                None => break,
            },
            message = socket.next() => match message {
                Some(Ok(Message::Binary(bytes))) => match ExecFrame::decode(&bytes) {
                    Ok(ExecFrame::Stdin(data)) if input_open => {
                        let written = input.write_all(&data).await;
                        input_open = written.is_ok() && input.flush().await.is_ok();
                    }
                    Ok(ExecFrame::StdinEof) if input_open => {
                        input_open = false;
                        let _ = input.shutdown().await;
                    }
                    Ok(ExecFrame::Resize { rows, cols }) if start.tty => {
                        if let Err(error) = runtime.exec_resize(&id, rows, cols).await {
                            tracing::debug!(%error, "cannot resize the exec terminal");
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(None),
                Some(Ok(_)) => {}
            },
        }
    }
    drop(input);
    let exit_code = async {
        loop {
            match runtime.exec_exit_code(&id).await {
                Ok(Some(code)) => return Ok(i32::try_from(code).unwrap_or(-1)),
                Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(error) => return Err(error.to_string()),
            }
        }
    };
    match tokio::time::timeout(EXIT_CODE_WAIT, exit_code).await {
        Ok(Ok(code)) => {
            tracing::info!(session = %start.session_id, task = %start.task_arn, exit_code = code, "exec ended");
            Ok(Some(code))
        }
        Ok(Err(error)) => Err(error),
        Err(_) => Err("the command's output ended but the engine reports it still running".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_urls_follow_the_server_scheme() {
        assert_eq!(dial_url("http://127.0.0.1:7700/", "s"), "ws://127.0.0.1:7700/agent/v1/exec/s");
        assert_eq!(dial_url("https://berth.example", "s"), "wss://berth.example/agent/v1/exec/s");
    }
}

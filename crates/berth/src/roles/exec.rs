//! `berth exec`: calls ExecuteCommand with the aws CLI's environment, opens the session's stream with its token,
//! and connects it to this terminal: standard input in (raw, in a terminal), output out, the window size on
//! SIGWINCH, and the command's exit code as this process's.

use crate::cli::ExecArgs;
use anyhow::{Context, bail};
use berth_model::agent::ExecFrame;
use futures::{SinkExt, StreamExt};
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The exit code when Berth could not run the command at all (as `ssh` does).
const FAILED: u8 = 255;

/// Runs `berth exec`; returns the command's exit code.
pub async fn run(args: ExecArgs) -> ExitCode {
    match session(args).await {
        Ok(code) => ExitCode::from(u8::try_from(code & 0xff).unwrap_or(FAILED)),
        Err(error) => {
            eprintln!("berth exec: {error:#}");
            ExitCode::from(FAILED)
        }
    }
}

/// Joins words into one command string that Berth's (and a POSIX shell's) word splitting gives back unchanged.
pub fn join_command(words: &[String]) -> String {
    let safe = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    words
        .iter()
        .map(|w| if safe(w) { w.clone() } else { format!("'{}'", w.replace('\'', r"'\''")) })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn session(args: ExecArgs) -> anyhow::Result<i32> {
    let client = aws_sdk_ecs::Client::new(&super::aws::config().await?);
    let response = client
        .execute_command()
        .set_cluster(args.cluster.clone())
        .task(&args.task)
        .set_container(args.container.clone())
        .command(join_command(&args.command))
        .interactive(true)
        .send()
        .await
        .map_err(|e| super::aws::api_error("ExecuteCommand", e))?;
    let session = response.session.context("ExecuteCommand answered without a session")?;
    let (Some(url), Some(token)) = (session.stream_url, session.token_value) else {
        bail!("ExecuteCommand answered a session without streamUrl or tokenValue");
    };
    let tty = args.tty || (!args.no_tty && std::io::stdin().is_terminal());
    let size = if tty { window_size() } else { None };
    let mut query = format!("?tty={tty}");
    if let Some((rows, cols)) = size {
        query.push_str(&format!("&rows={rows}&cols={cols}"));
    }
    let mut request = format!("{url}{query}").into_client_request().context("the session's streamUrl")?;
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().context("the session token")?);
    // wss:// (an https Berth): the system's roots plus AWS_CA_BUNDLE, verified; ws:// plain.
    let connector = if url.starts_with("wss://") {
        let ca = super::aws::ca_bundle()?.map(|(path, _)| path);
        let config = berth_agent::tls::client_config("https://berth", ca.as_deref())?
            .context("an https configuration for the session stream")?;
        tokio_tungstenite::Connector::Rustls(config)
    } else {
        tokio_tungstenite::Connector::Plain
    };
    let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector))
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let _raw = if tty && std::io::stdin().is_terminal() { RawMode::enter() } else { None };
    relay(socket, tty).await
}

/// The terminal's size (rows, columns), when standard output (or input) is a terminal.
fn window_size() -> Option<(u16, u16)> {
    let size =
        rustix::termios::tcgetwinsize(std::io::stdout()).or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin()));
    size.ok().filter(|w| w.ws_row > 0 && w.ws_col > 0).map(|w| (w.ws_row, w.ws_col))
}

/// The terminal in raw mode until dropped (then restored).
struct RawMode(rustix::termios::Termios);

impl RawMode {
    fn enter() -> Option<Self> {
        let saved = rustix::termios::tcgetattr(std::io::stdin()).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(Self(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Now, &self.0);
    }
}

/// Reads standard input on a thread of its own (a blocking read must not hold the runtime at exit) and sends it
/// as frames; `None` at its end.
fn read_stdin(tx: mpsc::UnboundedSender<Option<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    if tx.send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

async fn relay<S>(socket: tokio_tungstenite::WebSocketStream<S>, tty: bool) -> anyhow::Result<i32>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = socket.split();
    let (stdin_tx, mut stdin_rx) = mpsc::unbounded_channel();
    read_stdin(stdin_tx);
    let mut stdin_open = true;
    let mut winch = if tty {
        Some(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).context("SIGWINCH")?)
    } else {
        None
    };
    let send = |frame: ExecFrame| Message::Binary(frame.encode().into());
    loop {
        tokio::select! {
            chunk = stdin_rx.recv(), if stdin_open => {
                let frame = match chunk.flatten() {
                    Some(bytes) => ExecFrame::Stdin(bytes),
                    None => {
                        stdin_open = false;
                        ExecFrame::StdinEof
                    }
                };
                sink.send(send(frame)).await.context("sending to the session")?;
            }
            Some(()) = async { winch.as_mut()?.recv().await } => {
                if let Some((rows, cols)) = window_size() {
                    sink.send(send(ExecFrame::Resize { rows, cols })).await.context("sending to the session")?;
                }
            }
            message = stream.next() => match message {
                Some(Ok(Message::Binary(bytes))) => match ExecFrame::decode(&bytes) {
                    Ok(ExecFrame::Stdout(data)) => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&data).and_then(|()| out.flush()).context("writing to standard output")?;
                    }
                    Ok(ExecFrame::Stderr(data)) => {
                        let mut err = std::io::stderr().lock();
                        err.write_all(&data).and_then(|()| err.flush()).context("writing to standard error")?;
                    }
                    Ok(ExecFrame::Exit(code)) => {
                        let _ = sink.close().await;
                        return Ok(code);
                    }
                    Ok(ExecFrame::Error(message)) => bail!("the session failed: {message}"),
                    Ok(_) | Err(_) => {}
                },
                Some(Ok(Message::Close(_))) | None => bail!("the session ended before the command exited"),
                Some(Err(error)) => bail!("the session broke: {error}"),
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_commands_split_back_into_the_same_words() {
        let words: Vec<String> =
            ["sh", "-c", "echo 'a b' \"$X\" && exit 3", "", "x=y", "it's"].iter().map(|s| s.to_string()).collect();
        let joined = join_command(&words);
        assert_eq!(berth_control::exec::split_command(&joined).unwrap(), words);
    }
}

//! The Docker Engine for tests: [`require_docker`] (tests never skip silently), a thin wrapper over the `docker`
//! CLI and [`Container`], a guard that removes its container when dropped.
//!
//! The engine is found like the CLI and bollard find it: `$DOCKER_HOST` (`unix://` or `tcp://`), else
//! `unix:///var/run/docker.sock`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::TestkitError;

/// The default engine address.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Where the engine is expected: `$DOCKER_HOST` or [`DEFAULT_DOCKER_HOST`].
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string())
}

/// Panics with a clear message unless a Docker Engine answers `GET /_ping` at [`docker_host`].
///
/// The check runs once per process; later calls repeat its verdict.
pub fn require_docker() {
    static VERDICT: OnceLock<Result<(), String>> = OnceLock::new();
    let verdict = VERDICT.get_or_init(|| ping(&docker_host(), Duration::from_secs(5)));
    if let Err(why) = verdict {
        panic!(
            "these tests need a running Docker Engine; none answered at {} ({why}). Start dockerd or set DOCKER_HOST.",
            docker_host()
        );
    }
}

/// Sends `GET /_ping` to the engine at `host` and expects a 200.
fn ping(host: &str, timeout: Duration) -> Result<(), String> {
    let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    let mut response = Vec::new();
    if let Some(path) = host.strip_prefix("unix://") {
        let mut s = UnixStream::connect(path).map_err(|e| format!("connect {path}: {e}"))?;
        s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        s.write_all(request).map_err(|e| e.to_string())?;
        s.read_to_end(&mut response).map_err(|e| e.to_string())?;
    } else if let Some(addr) = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://")) {
        let addr = addr.trim_end_matches('/');
        let sock = addr.to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("no address")?;
        let mut s = TcpStream::connect_timeout(&sock, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        s.write_all(request).map_err(|e| e.to_string())?;
        s.read_to_end(&mut response).map_err(|e| e.to_string())?;
    } else {
        return Err(format!("unsupported DOCKER_HOST scheme in {host:?}"));
    }
    let head = String::from_utf8_lossy(&response);
    match head.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!("unexpected answer to /_ping: {:?}", head.lines().next().unwrap_or_default())),
    }
}

/// Runs `docker ARGS...` and returns its standard output, trimmed; a non-zero exit is an error carrying stderr.
pub fn docker(args: &[&str]) -> Result<String, TestkitError> {
    run(Command::new("docker").args(args))
}

/// Runs a prepared command and returns its standard output, trimmed.
pub(crate) fn run(cmd: &mut Command) -> Result<String, TestkitError> {
    let command = format!("{} {}", cmd.get_program().to_string_lossy(), {
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        args.join(" ")
    });
    let output = cmd.output().map_err(|e| TestkitError::Command {
        command: command.clone(),
        status: "did not start".to_string(),
        stderr: e.to_string(),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        return Err(TestkitError::Command {
            command,
            status: output.status.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// A container started by a test, force-removed (with its anonymous volumes) when dropped.
#[derive(Debug)]
pub struct Container {
    /// The full container id.
    pub id: String,
}

impl Container {
    /// `docker run -d ARGS...` (ARGS ends with the image and its arguments).
    pub fn run(args: &[&str]) -> Result<Container, TestkitError> {
        let mut full = vec!["run", "-d"];
        full.extend_from_slice(args);
        Ok(Container { id: docker(&full)? })
    }

    /// Adopts an existing container id, so it is removed on drop.
    pub fn adopt(id: impl Into<String>) -> Container {
        Container { id: id.into() }
    }

    /// The host port published for `container_port` (e.g. `"8080/tcp"`), read from `docker port`.
    pub fn host_port(&self, container_port: &str) -> Result<u16, TestkitError> {
        let out = docker(&["port", &self.id, container_port])?;
        out.lines().filter_map(|l| l.rsplit_once(':').and_then(|(_, p)| p.trim().parse().ok())).next().ok_or_else(
            || TestkitError::Io {
                context: format!("host port of {} {container_port}", self.id),
                message: format!("no binding in {out:?}"),
            },
        )
    }

    /// `docker inspect --format FORMAT`.
    pub fn inspect(&self, format: &str) -> Result<String, TestkitError> {
        docker(&["inspect", "--format", format, &self.id])
    }

    /// Everything the container wrote to stdout and stderr so far.
    pub fn logs(&self) -> Result<String, TestkitError> {
        let output = Command::new("docker").args(["logs", &self.id]).output().map_err(|e| TestkitError::Command {
            command: format!("docker logs {}", self.id),
            status: "did not start".to_string(),
            stderr: e.to_string(),
        })?;
        Ok(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // Best effort: a test that already removed it is fine.
        let _ = Command::new("docker").args(["rm", "-f", "-v", &self.id]).output();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_reports_an_absent_socket() {
        let err = ping("unix:///nonexistent/docker.sock", Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("/nonexistent/docker.sock"), "{err}");
        assert!(ping("ssh://host", Duration::from_secs(1)).unwrap_err().contains("unsupported"));
    }

    #[test]
    fn run_reports_failures_with_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo boom >&2; exit 3"])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("boom") && text.contains('3'), "{text}");
        assert_eq!(run(Command::new("sh").args(["-c", "echo ' hi '"])).unwrap(), "hi");
    }
}

//! A throwaway single-member etcd for tests: the real `etcd` binary (Debian's `etcd-server`) on free loopback
//! ports with a data dir of its own, killed when dropped. A missing binary is an error, never a skip.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary: `BERTH_ETCD_BIN` if set, else `etcd` on the `PATH`.
fn binary() -> PathBuf {
    std::env::var_os("BERTH_ETCD_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("etcd"))
}

/// A running etcd.
pub struct EtcdProcess {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
}

impl EtcdProcess {
    /// Starts an etcd with an empty data dir and waits until it is healthy.
    pub fn start() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("creating etcd's temp dir: {e}"))?;
        let mut etcd = Self { child: None, dir, client_port: free_port()?, peer_port: free_port()? };
        etcd.launch()?;
        Ok(etcd)
    }

    /// The client URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Kills the process (SIGKILL) and waits for it; the data dir stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same ports and data dir (after [`kill`](Self::kill)).
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.launch()
    }

    fn launch(&mut self) -> Result<(), String> {
        let client = self.url();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log_path = self.dir.path().join("etcd.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("opening {}: {e}", log_path.display()))?;
        let log_err = log.try_clone().map_err(|e| format!("cloning the log handle: {e}"))?;
        let child = Command::new(binary())
            .arg("--name=berth-test")
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=berth-test={peer}"))
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run {} ({e}): the etcd tests need etcd (Debian's etcd-server package; tools/test \
                     installs it), or BERTH_ETCD_BIN naming the binary",
                    binary().display()
                )
            })?;
        self.child = Some(child);
        wait_healthy(self.client_port, &log_path, self.child.as_mut())
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("finding a free port: {e}"))
}

/// Polls `/health` for up to 30 s; the log's tail in the error when it never gets healthy or the process exits.
fn wait_healthy(port: u16, log: &Path, child: Option<&mut Child>) -> Result<(), String> {
    let Some(child) = child else { return Err("etcd is not running".into()) };
    let tail =
        || std::fs::read_to_string(log).unwrap_or_default().lines().rev().take(20).collect::<Vec<_>>().join("\n");
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("etcd exited with {status}; its log:\n{}", tail()));
        }
        if health(port).is_some_and(|body| body.contains("\"health\":\"true\"")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("etcd on port {port} was not healthy within 30 s; its log:\n{}", tail()))
}

fn health(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

//! A second Docker Engine on this machine, as if on a second host: a `dockerd` in its own network namespace,
//! joined to the root namespace by a veth pair on a small link network, with its own data root, exec root,
//! socket and containerd namespaces, so it shares nothing with the machine's engine but the kernel.
//!
//! Everything it makes is removed on drop, also when the test panics: the processes started in it, its containers,
//! the `dockerd`, the namespace (which takes the veth pair along) and its directory. The machine's engine is never
//! touched: every `docker` call here names this engine's socket.
//!
//! Processes go into the namespace with `nsenter --net` rather than `ip netns exec`, which remounts `/sys` and so
//! hides the cgroup hierarchy `dockerd` needs.

use crate::TestkitError;
use crate::docker::run;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `dockerd` in a network namespace of its own.
pub struct NetnsEngine {
    /// The namespace's name (`ip netns list`).
    pub netns: String,
    /// The root namespace's end of the veth pair.
    pub root_link: String,
    /// The root namespace's address on the link (a `/30`).
    pub root_address: Ipv4Addr,
    /// The namespace's address on the link.
    pub address: Ipv4Addr,
    /// `unix://<socket>` of this engine.
    pub docker_host: String,
    dir: tempfile::TempDir,
    dockerd: Option<Child>,
    children: Vec<Child>,
}

impl NetnsEngine {
    /// Creates the namespace `berth-<name>-<pid>` with its link (`100.64.N.1/30` in the root namespace,
    /// `.2` inside; `N` from the process id) and starts `dockerd` in it with the machine engine's storage driver.
    pub fn start(name: &str) -> Result<Self, TestkitError> {
        let pid = std::process::id();
        let n = u8::try_from(pid % 250).unwrap_or(0) + 1;
        let netns = format!("berth-{name}-{pid}");
        let root_link = format!("bmh{:05}r", pid % 100_000);
        let inner_link = format!("bmh{:05}n", pid % 100_000);
        let root_address = Ipv4Addr::new(100, 64, n, 1);
        let address = Ipv4Addr::new(100, 64, n, 2);
        let dir = tempfile::Builder::new()
            .prefix("bmh")
            .tempdir_in("/tmp")
            .map_err(|e| TestkitError::io("create the engine dir", &e))?;
        let docker_host = format!("unix://{}", dir.path().join("docker.sock").display());
        let mut engine = NetnsEngine {
            netns: netns.clone(),
            root_link: root_link.clone(),
            root_address,
            address,
            docker_host,
            dir,
            dockerd: None,
            children: Vec::new(),
        };
        let ip = |args: &[&str]| run(Command::new("ip").args(args));
        ip(&["netns", "add", &netns])?;
        ip(&["link", "add", &root_link, "type", "veth", "peer", "name", &inner_link])?;
        ip(&["link", "set", &inner_link, "netns", &netns])?;
        ip(&["addr", "add", &format!("{root_address}/30"), "dev", &root_link])?;
        ip(&["link", "set", &root_link, "up"])?;
        ip(&["-n", &netns, "addr", "add", &format!("{address}/30"), "dev", &inner_link])?;
        ip(&["-n", &netns, "link", "set", &inner_link, "up"])?;
        ip(&["-n", &netns, "link", "set", "lo", "up"])?;
        engine.start_dockerd(&format!("berth-{name}-{pid}"))?;
        Ok(engine)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start_dockerd(&mut self, containerd_namespace: &str) -> Result<(), TestkitError> {
        let driver = crate::docker(&["info", "--format", "{{.Driver}}"])?;
        // Its own configuration file: the machine's (/etc/docker/daemon.json) names the machine's data root.
        let config = format!("{{\"storage-driver\": \"{driver}\"}}");
        std::fs::write(self.path("daemon.json"), config).map_err(|e| TestkitError::io("write daemon.json", &e))?;
        let log = std::fs::File::create(self.path("dockerd.log")).map_err(|e| TestkitError::io("dockerd log", &e))?;
        let log_err = log.try_clone().map_err(|e| TestkitError::io("dockerd log", &e))?;
        let child = self
            .command("dockerd")
            .arg("--config-file")
            .arg(self.path("daemon.json"))
            .arg("--data-root")
            .arg(self.path("data"))
            .arg("--exec-root")
            .arg(self.path("exec"))
            .arg("--pidfile")
            .arg(self.path("docker.pid"))
            .arg("-H")
            .arg(&self.docker_host)
            .arg("--containerd-namespace")
            .arg(containerd_namespace)
            .arg("--containerd-plugins-namespace")
            .arg(format!("{containerd_namespace}-plugins"))
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| TestkitError::io("start dockerd in the namespace", &e))?;
        self.dockerd = Some(child);
        crate::wait_for_blocking("the second engine to answer", Duration::from_secs(30), || {
            self.docker(&["version", "--format", "{{.Server.Version}}"]).ok()
        })
        .map_err(|e| TestkitError::Io {
            context: format!("{e}; dockerd log:\n{}", self.log()),
            message: String::new(),
        })?;
        Ok(())
    }

    /// `dockerd`'s log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("dockerd.log")).unwrap_or_default()
    }

    /// A command run in the namespace (`nsenter --net=...`), with `DOCKER_HOST` naming this engine.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command.arg(format!("--net=/var/run/netns/{}", self.netns)).arg(program).env("DOCKER_HOST", &self.docker_host);
        command
    }

    /// Starts a process in the namespace (output appended to `log`); it is killed on drop. Returns its pid.
    pub fn spawn(&mut self, mut command: Command, log: &Path) -> Result<u32, TestkitError> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| TestkitError::io("open the process log", &e))?;
        let err = out.try_clone().map_err(|e| TestkitError::io("clone the process log", &e))?;
        let child = command
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| TestkitError::io("start a process in the namespace", &e))?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// `docker -H <this engine> ARGS...`.
    pub fn docker(&self, args: &[&str]) -> Result<String, TestkitError> {
        run(Command::new("docker").arg("-H").arg(&self.docker_host).args(args))
    }

    /// Copies `image` from the machine's engine into this one (`docker save | docker load`), also as each of `tags`.
    pub fn load_image(&self, image: &str, tags: &[&str]) -> Result<(), TestkitError> {
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| TestkitError::io("docker save", &e))?;
        let stdout = save
            .stdout
            .take()
            .ok_or_else(|| TestkitError::Io { context: "docker save".into(), message: "no output pipe".into() })?;
        let loaded =
            run(Command::new("docker").arg("-H").arg(&self.docker_host).arg("load").stdin(Stdio::from(stdout)));
        let _ = save.wait();
        loaded?;
        for tag in tags {
            self.docker(&["tag", image, tag])?;
        }
        Ok(())
    }

    /// `ip -n <namespace> ARGS...`.
    pub fn ip(&self, args: &[&str]) -> Result<String, TestkitError> {
        run(Command::new("ip").arg("-n").arg(&self.netns).args(args))
    }

    /// Stops `dockerd` (SIGTERM, then SIGKILL after 20 s).
    fn stop_dockerd(&mut self) {
        let Some(mut child) = self.dockerd.take() else { return };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let stopped = crate::wait_for_blocking("the second engine to stop", Duration::from_secs(20), || {
            child.try_wait().ok().flatten()
        });
        if stopped.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Unmounts whatever is still mounted under the engine's directory (its containers' layers), deepest first.
    fn unmount_leftovers(&self) {
        let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else { return };
        let root = self.dir.path().to_string_lossy().into_owned();
        let mut points: Vec<&str> =
            mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|p| p.starts_with(&root)).collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for point in points {
            let _ = Command::new("umount").arg("-l").arg(point).status();
        }
    }
}

impl Drop for NetnsEngine {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Ok(ids) = self.docker(&["ps", "-aq"]) {
            let ids: Vec<&str> = ids.lines().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.docker(&args);
            }
        }
        self.stop_dockerd();
        let _ = run(Command::new("ip").args(["netns", "del", &self.netns]));
        let _ = run(Command::new("ip").args(["link", "del", &self.root_link]));
        self.unmount_leftovers();
    }
}

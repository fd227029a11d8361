//! Blocking mode's view of a paced container's main process: the pace must stop holding the container's output the
//! moment its process exits.
//!
//! Why: Docker 20.10 gives a container's output streams two seconds after its process exits to finish copying,
//! then closes the log driver; what is still in the pipes then never reaches the `json-file` log. A paced
//! container's last output waits in those pipes while the pace holds the attach stream, so the pace reads freely
//! once the process is gone (nothing is held back by then: the container wrote all it will write). The agent learns
//! of the exit from a pidfd on the process, not from the engine: the engine answers nothing about that container
//! (inspect included) until its streams are closed.

use std::os::fd::OwnedFd;

/// A container's main process, watched through a pidfd.
#[derive(Debug)]
pub struct ProcessWatch {
    fd: OwnedFd,
}

impl ProcessWatch {
    /// Watches the process `pid` (the container's main process, by the engine's inspect). `None` when it cannot be
    /// watched: not visible in this PID namespace (an agent in a container of its own), or not the container's
    /// (its cgroup does not name `container_id`).
    pub fn open(pid: u32, container_id: &str) -> Option<ProcessWatch> {
        let raw = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw)?;
        let fd = match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(error) => {
                tracing::debug!(pid, %error, "awslogs: cannot watch the container's process");
                return None;
            }
        };
        // Opened first, checked second: a pidfd names one process for good, so a recycled PID cannot slip in.
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if !cgroup.contains(container_id) {
            tracing::debug!(pid, container = %container_id, "awslogs: the PID is not the container's process here");
            return None;
        }
        Some(ProcessWatch { fd })
    }

    /// Whether the process has exited (a pidfd becomes readable then); never waits.
    pub fn exited(&self) -> bool {
        let mut fds = [rustix::event::PollFd::new(&self.fd, rustix::event::PollFlags::IN)];
        let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
        matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_when_a_process_of_the_named_cgroup_exits_and_ignores_one_of_another() {
        let mut child = std::process::Command::new("sleep").arg("0.3").spawn().unwrap();
        let pid = child.id();
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let ours = cgroup.trim().rsplit('/').next().unwrap_or_default().to_string();
        let watch = ProcessWatch::open(pid, &ours).expect("a process of this cgroup is watched");
        assert!(ProcessWatch::open(pid, "a-container-id-that-is-not-this-process").is_none());
        assert!(!watch.exited(), "not before it exits");
        child.wait().unwrap();
        assert!(watch.exited(), "told once the process exited");
    }
}

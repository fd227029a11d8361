//! Helpers shared by Berth's integration tests and benchmarks.
//!
//! Background: tests exercise a real Docker Engine that has no images and reaches no registry, so the one image
//! they run is built here from the `berth-workload` crate (a static binary in a `FROM scratch` image). Docker tests
//! never skip: [`require_docker`] panics with a clear message when no engine answers.
//!
//! Design, one module per concern (the lead adds server start-up helpers beside them):
//! - [`image`]: [`workload_image`] builds, tags and memoizes `berth-workload:<hash>`;
//! - [`docker`]: [`require_docker`], a thin `docker` CLI wrapper and a container guard that removes on drop;
//! - [`http`]: a tiny blocking HTTP client ([`http_get`]) that needs no runtime;
//! - [`netns_engine`]: a second Docker Engine in its own network namespace, as a second host ([`NetnsEngine`]);
//! - [`node_image`]: the `FROM scratch` node image holding the test's `berth`, etcd and their shared libraries;
//! - [`fault_cluster`]: 3 etcd members, 3 servers and N agents as containers on a private network, with faults
//!   (`kill -9`, partitions, SIGSTOP, a skewed server clock) ([`FaultCluster`]);
//! - [`chromium`]: headless Chromium over the DevTools protocol ([`Chromium`]), for the web console's tests;
//! - [`wait`]: polling until a condition holds or a deadline passes ([`wait_for`], [`wait_for_blocking`]);
//! - this file: [`free_port`], [`data_dir`] and the error type.
//!
//! Limitations: the image build shells out to `cargo` and the `docker` CLI (legacy builder, `DOCKER_BUILDKIT=0`,
//! since the machines have no buildx); the HTTP client speaks plain HTTP/1.1 only.

pub mod berth;
pub mod chromium;
pub mod docker;
pub mod fault_cluster;
pub mod http;
pub mod image;
pub mod netns_engine;
pub mod node_image;
pub mod wait;

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

pub use berth::{Berth, BerthOptions};
pub use chromium::Chromium;
pub use docker::{Container, docker, require_docker};
pub use fault_cluster::{FaultCluster, FaultClusterOptions, Node};
pub use http::{http_get, http_get_timeout};
pub use image::{WORKLOAD_REPO, workload_image, workspace_root};
pub use netns_engine::NetnsEngine;
pub use node_image::node_image;
pub use wait::{wait_for, wait_for_blocking};

/// An ECS client (the official `aws-sdk-ecs`) for a Berth, configured as a user would with the printed variables:
/// its endpoint, the root credentials, region `us-east-1`.
pub fn ecs_client(berth: &Berth) -> aws_sdk_ecs::Client {
    let creds =
        aws_credential_types::Credentials::new(&berth.access_key_id, &berth.secret_access_key, None, None, "testkit");
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(aws_sdk_ecs::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(berth.url())
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

/// Errors of the test helpers; cloneable so memoized results can be handed to every caller.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TestkitError {
    /// A file or socket operation failed.
    #[error("{context}: {message}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        message: String,
    },
    /// An external command failed or could not be started.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status, or why it did not run.
        status: String,
        /// The tail of its standard error.
        stderr: String,
    },
    /// The workload binary is dynamically linked, so it cannot run in a scratch image.
    #[error("{path} is not statically linked ({detail}); it cannot run in a FROM scratch image")]
    NotStatic {
        /// The binary.
        path: String,
        /// What gave it away.
        detail: String,
    },
    /// Headless Chromium failed, or a DevTools call did.
    #[error("chromium: {context}: {message}")]
    Browser {
        /// What was being done.
        context: String,
        /// What went wrong.
        message: String,
    },
    /// A condition did not hold in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long was waited.
        after: Duration,
    },
    /// An HTTP exchange failed.
    #[error("GET {url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

impl TestkitError {
    /// An [`TestkitError::Io`] from an `io::Error` and its context.
    pub fn io(context: impl Into<String>, err: &std::io::Error) -> Self {
        TestkitError::Io { context: context.into(), message: err.to_string() }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// It is drawn at random from below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`), where neither
/// outgoing connections nor Docker's dynamic host ports land, so it stays free until the caller binds it far more
/// reliably than a port the kernel handed out for `:0`. Panics if no port can be found.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.max(10_001));
    for attempt in 0..200u64 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(attempt);
        let port = low + (hasher.finish() % u64::from(high - low)) as u16;
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
            && TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok()
        {
            return port;
        }
    }
    match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot find a free port on 127.0.0.1: {e}"),
    }
}

/// A fresh temporary data directory (`berth-test-*`), removed when the returned value drops.
pub fn data_dir() -> Result<tempfile::TempDir, TestkitError> {
    tempfile::Builder::new().prefix("berth-test-").tempdir().map_err(|e| TestkitError::io("create a data dir", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }

    #[test]
    fn data_dir_is_removed_on_drop() {
        let dir = data_dir().unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("x"), b"1").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}

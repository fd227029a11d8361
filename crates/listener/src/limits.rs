//! The knobs of a listener and their defaults, and the process's open-file limit they are clamped to.

use std::time::Duration;

/// Default cap on unauthenticated connections (further clamped by the open-file limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default time a client has to send a complete request head, from its first byte (or from the accept for a
/// connection's first request).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may sit between requests (keep-alive), and the longest an unauthenticated response
/// may move no byte.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Default longest wait for the next chunk of a request body.
pub const DEFAULT_BODY_CHUNK_TIMEOUT: Duration = Duration::from_secs(30);
/// Default minimum request body rate, in bytes per second of waiting on the client, measured over
/// [`DEFAULT_BODY_RATE_WINDOW`].
pub const DEFAULT_BODY_MIN_RATE: u64 = 1024;
/// Default window the minimum body rate is measured over.
pub const DEFAULT_BODY_RATE_WINDOW: Duration = Duration::from_secs(30);
/// Default time in-flight requests get to finish at shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What a listener allows its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The most unauthenticated connections held at once; at the cap the oldest idle one is evicted, or the new
    /// one refused. Clamped to the open-file limit less a headroom (see [`effective_max_connections`]).
    pub max_connections: usize,
    /// Time to send a complete request head: from the accept for the first request, from its first byte after.
    pub header_timeout: Duration,
    /// Time a connection may be idle between requests; also the longest an unauthenticated response may move no
    /// byte (a client that does not read it, or a silent stream).
    pub idle_timeout: Duration,
    /// The longest wait for the next chunk of a request body.
    pub body_chunk_timeout: Duration,
    /// The minimum request body rate (bytes per second of waiting on the client), checked per window.
    pub body_min_rate: u64,
    /// The window the minimum body rate is measured over.
    pub body_rate_window: Duration,
    /// Time in-flight requests get to finish at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_chunk_timeout: DEFAULT_BODY_CHUNK_TIMEOUT,
            body_min_rate: DEFAULT_BODY_MIN_RATE,
            body_rate_window: DEFAULT_BODY_RATE_WINDOW,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl Limits {
    /// How often a connection checks its timeouts: a fifth of the shortest, between 10 ms and 1 s.
    pub(crate) fn tick(&self) -> Duration {
        let shortest = self.header_timeout.min(self.idle_timeout);
        (shortest / 5).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

/// The soft open-file limit of this process (`Max open files` in `/proc/self/limits`), if known.
pub fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&limits)
}

/// The soft limit from the text of a `/proc/<pid>/limits` file; `None` when absent or unlimited.
pub fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// The cap actually applied: `configured`, but at most the open-file limit less a headroom for the process's
/// other files (an eighth of the limit, at least 64), and never below 1.
pub fn effective_max_connections(configured: usize, open_file_limit: Option<u64>) -> usize {
    let Some(limit) = open_file_limit else { return configured.max(1) };
    let headroom = (limit / 8).max(64);
    let by_files = usize::try_from(limit.saturating_sub(headroom)).unwrap_or(usize::MAX);
    configured.min(by_files).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max open files            1024                 524288               files     \n";

    #[test]
    fn reads_the_soft_open_file_limit() {
        assert_eq!(parse_open_file_limit(LIMITS), Some(1024));
        assert_eq!(parse_open_file_limit("Max open files  unlimited unlimited files"), None);
        assert_eq!(parse_open_file_limit(""), None);
    }

    #[test]
    fn the_cap_leaves_headroom_under_the_file_limit() {
        assert_eq!(effective_max_connections(4096, Some(1024)), 896);
        assert_eq!(effective_max_connections(4096, Some(20000)), 4096);
        assert_eq!(effective_max_connections(100, Some(1024)), 100);
        assert_eq!(effective_max_connections(4096, Some(10)), 1);
        assert_eq!(effective_max_connections(4096, None), 4096);
    }
}

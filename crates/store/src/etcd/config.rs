//! What `--store etcd:...` names: the endpoints, the key prefix and the request limit.

use std::time::Duration;

/// etcd's default `--max-request-bytes`: the largest request a member accepts.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1_572_864;

/// etcd's default `--max-txn-ops`: the most compares, or operations in a branch, one transaction may have.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// How to reach an etcd cluster and where Berth's keys live in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// The client URLs of the members (`http://host:2379`).
    pub endpoints: Vec<String>,
    /// Prepended to every key, so several installations can share one etcd (`/berth` gives `/berth/ecs/...`);
    /// empty by default.
    pub prefix: String,
    /// The members' `--max-request-bytes`: a transaction larger than this is refused before it is sent.
    pub max_request_bytes: usize,
    /// The members' `--max-txn-ops`: a transaction with more compares or operations is refused before it is sent.
    pub max_txn_ops: usize,
    /// How long one request may take before it fails.
    pub request_timeout: Duration,
}

/// A malformed `etcd:` store specification.
#[derive(Debug, thiserror::Error)]
#[error("invalid etcd store {spec:?}: {reason}")]
pub struct EtcdConfigError {
    /// The specification.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

impl EtcdConfig {
    /// Parses `URL[,URL...][?prefix=P&max-request-bytes=N&max-txn-ops=N&timeout-seconds=N]` (what follows `etcd:`).
    pub fn parse(spec: &str) -> Result<Self, EtcdConfigError> {
        let fail = |reason: String| EtcdConfigError { spec: spec.to_string(), reason };
        let (urls, query) = match spec.split_once('?') {
            Some((urls, query)) => (urls, Some(query)),
            None => (spec, None),
        };
        let mut endpoints = Vec::new();
        for url in urls.split(',').map(str::trim) {
            if url.starts_with("https://") {
                return Err(fail(format!("{url}: TLS to etcd is not supported yet; use http:// endpoints")));
            }
            let Some(rest) = url.strip_prefix("http://") else {
                return Err(fail(format!("{url:?} is not an http:// URL")));
            };
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
                return Err(fail(format!("{url:?} must be http://HOST:PORT")));
            }
            endpoints.push(format!("http://{authority}"));
        }
        let mut config = Self {
            endpoints,
            prefix: String::new(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
            request_timeout: Duration::from_secs(10),
        };
        for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = || {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| fail(format!("{name} must be a positive integer")))
            };
            match name {
                "prefix" => {
                    if !value.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                        return Err(fail("the prefix must be printable ASCII without spaces".into()));
                    }
                    config.prefix = value.to_string();
                }
                "max-request-bytes" => config.max_request_bytes = usize::try_from(number()?).unwrap_or(usize::MAX),
                "max-txn-ops" => config.max_txn_ops = usize::try_from(number()?).unwrap_or(usize::MAX),
                "timeout-seconds" => config.request_timeout = Duration::from_secs(number()?),
                other => {
                    return Err(fail(format!(
                        "unknown option {other:?} (known: prefix, max-request-bytes, max-txn-ops, timeout-seconds)"
                    )));
                }
            }
        }
        Ok(config)
    }
}

/// The first key after every key that starts with `prefix` (etcd's `range_end`); `[0]` (every key from the start
/// key on) when no such key exists.
pub(crate) fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints_and_options() {
        let config = EtcdConfig::parse("http://h1:2379,http://h2:2379/?prefix=/berth&max-request-bytes=1000").unwrap();
        assert_eq!(config.endpoints, vec!["http://h1:2379", "http://h2:2379"]);
        assert_eq!(config.prefix, "/berth");
        assert_eq!(config.max_request_bytes, 1000);
        assert_eq!(config.max_txn_ops, DEFAULT_MAX_TXN_OPS);
        let plain = EtcdConfig::parse("http://127.0.0.1:2379").unwrap();
        assert_eq!((plain.prefix.as_str(), plain.max_request_bytes), ("", DEFAULT_MAX_REQUEST_BYTES));
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for bad in [
            "",
            "h1:2379",
            "https://h1:2379",
            "http://h1:2379?colour=blue",
            "http://h1:2379?max-txn-ops=0",
            "http://h1:2379?prefix=a b",
            "http://user@h1:2379",
            "http://h1:2379/v3",
        ] {
            assert!(EtcdConfig::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn range_end_covers_the_prefix() {
        assert_eq!(range_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(range_end(b"a\xff"), b"b".to_vec());
        assert_eq!(range_end(b""), vec![0]);
    }
}

//! How the day-to-day commands reach Berth: the aws CLI's environment and profile files when any `AWS_*` variable
//! says where or who (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_PROFILE` ...), else what `berth up` (or `berth
//! server`) wrote in its data dir: the endpoint it advertises (`endpoint.json`, written at every start) and the
//! root credentials (`credentials.json`, written when it created them), so that `berth status` works right after
//! `berth up` in the same directory.

use crate::cli::ClientArgs;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file in the data dir naming the endpoint clients use.
pub const ENDPOINT_FILE: &str = "endpoint.json";

/// Where a started server is reached, as written in `<data-dir>/endpoint.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The URL the server printed (`http://127.0.0.1:7700`).
    pub url: String,
    /// The region of its ARNs and signatures.
    pub region: String,
    /// The CA certificate clients trust for an `https://` URL (`berth up --tls`'s local CA), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
}

impl Endpoint {
    /// The endpoint of a server started with `args`: its listen address (an unspecified address as loopback).
    pub fn of(args: &crate::cli::ServerArgs) -> Self {
        let mut addr = args.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Self {
            url: format!("{}://{addr}", args.scheme()),
            region: args.region.clone(),
            ca_bundle: args.local_ca.clone(),
        }
    }
}

/// Writes `endpoint` into `data_dir` (owner-only, atomically).
pub fn write_endpoint(data_dir: &Path, endpoint: &Endpoint) -> Result<()> {
    let text = serde_json::to_vec_pretty(endpoint)?;
    super::super::files::write_private(&data_dir.join(ENDPOINT_FILE), &text)
}

/// Reads the endpoint in `data_dir`, if a server wrote one.
pub fn read_endpoint(data_dir: &Path) -> Result<Option<Endpoint>> {
    let path = data_dir.join(ENDPOINT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| format!("parsing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Reads the root credentials in `data_dir`, if the server created them there.
fn read_credentials(data_dir: &Path) -> Result<Option<super::super::files::RootCredentials>> {
    let path = data_dir.join("credentials.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| format!("parsing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Whether the environment says where or as whom to call, so the aws CLI's own rules apply.
pub fn environment_decides(var: impl Fn(&str) -> Option<String>) -> bool {
    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECS", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"]
        .iter()
        .any(|name| var(name).is_some_and(|v| !v.is_empty()))
}

/// Where and as whom the commands call: the SDK configuration (endpoint, region, credentials) and the CA
/// certificates to trust besides the system's (PEM).
pub struct Connection {
    /// The SDK configuration.
    pub sdk: aws_config::SdkConfig,
    /// The extra CA certificates, if any.
    pub ca_pem: Option<Vec<u8>>,
}

/// The connection the commands use (see the module's documentation).
pub async fn connect(client: &ClientArgs) -> Result<Connection> {
    if environment_decides(|name| std::env::var(name).ok()) {
        return from_environment().await;
    }
    let Some(endpoint) = read_endpoint(&client.data_dir)? else {
        let connection = from_environment().await?;
        if connection.sdk.endpoint_url().is_none() {
            anyhow::bail!(
                "no endpoint: set AWS_ENDPOINT_URL and credentials (berth up prints them), or run where `berth up` \
                 keeps its data dir ({} not found; --data-dir or BERTH_DATA_DIR names another)",
                client.data_dir.join(ENDPOINT_FILE).display()
            );
        }
        return Ok(connection);
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint.url)
        .region(aws_config::Region::new(endpoint.region.clone()));
    match read_credentials(&client.data_dir)? {
        Some(creds) => {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                creds.access_key_id,
                creds.secret_access_key,
                None,
                None,
                "berth-data-dir",
            ));
        }
        None => tracing::debug!("no credentials.json in the data dir: the aws CLI's credentials are used"),
    }
    let ca_pem = match &endpoint.ca_bundle {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("reading the CA certificate {}", path.display()))?;
            loader = loader.http_client(super::super::aws::https_client(pem.clone())?);
            Some(pem)
        }
        None => None,
    };
    Ok(Connection { sdk: loader.load().await, ca_pem })
}

/// The aws CLI's environment and files, with `AWS_CA_BUNDLE`.
async fn from_environment() -> Result<Connection> {
    let sdk = super::super::aws::config().await?;
    let ca_pem = super::super::aws::ca_bundle()?.map(|(_, pem)| pem);
    Ok(Connection { sdk, ca_pem })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_aws_variable_hands_over_to_the_aws_cli_rules() {
        assert!(!environment_decides(|_| None));
        assert!(!environment_decides(|_| Some(String::new())), "an empty variable does not count");
        assert!(environment_decides(|n| (n == "AWS_PROFILE").then(|| "dev".to_string())));
        assert!(environment_decides(|n| (n == "AWS_ENDPOINT_URL").then(|| "http://x".to_string())));
    }

    #[test]
    fn the_endpoint_file_round_trips() {
        let dir = std::env::temp_dir().join(format!("berth-endpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        assert_eq!(read_endpoint(&dir).expect("no file is no endpoint"), None);
        let endpoint = Endpoint {
            url: "https://127.0.0.1:7700".into(),
            region: "eu-west-1".into(),
            ca_bundle: Some("/ca.pem".into()),
        };
        write_endpoint(&dir, &endpoint).expect("written");
        assert_eq!(read_endpoint(&dir).expect("read"), Some(endpoint));
        std::fs::write(dir.join(ENDPOINT_FILE), b"{").expect("overwritten");
        assert!(read_endpoint(&dir).is_err(), "a damaged file is an error, not silence");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! How the agent reaches an `https://` server: one rustls client configuration (the ring provider) trusting the
//! system's CA roots plus the `--server-ca` certificates, shared by every client the agent opens to the server (the
//! HTTP calls, the desired-state stream, the exec dial-back WebSockets). Certificates are always verified; an
//! `https://` server is never reached over plain HTTP (the HTTP clients are https-only).

use crate::AgentError;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;

/// The TLS settings for `server_url`: `None` for `http://`, a verifying client configuration for `https://`.
/// `server_ca` (PEM, one or more certificates) is trusted besides the system's roots; giving it with an `http://`
/// URL is refused, as is any other scheme.
pub fn client_config(
    server_url: &str,
    server_ca: Option<&Path>,
) -> Result<Option<Arc<rustls::ClientConfig>>, AgentError> {
    let lower = server_url.trim().to_ascii_lowercase();
    if lower.starts_with("http://") {
        if let Some(ca) = server_ca {
            return Err(AgentError::Tls(format!(
                "--server-ca {} is only used with an https:// server URL, and the server URL is {server_url}",
                ca.display()
            )));
        }
        return Ok(None);
    }
    if !lower.starts_with("https://") {
        return Err(AgentError::Tls(format!("the server URL {server_url} must start with http:// or https://")));
    }
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "a system CA root could not be loaded");
    }
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = server_ca {
        let pem = std::fs::read(path)
            .map_err(|e| AgentError::Tls(format!("cannot read --server-ca {}: {e}", path.display())))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AgentError::Tls(format!("--server-ca {} is not PEM: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(AgentError::Tls(format!("--server-ca {} holds no PEM certificate", path.display())));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                AgentError::Tls(format!("--server-ca {} holds a certificate rustls cannot use: {e}", path.display()))
            })?;
        }
    } else if added == 0 {
        return Err(AgentError::Tls(format!(
            "the server URL {server_url} is https and this host has no CA roots: give --server-ca"
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AgentError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// The TLS failure behind `error`, if a certificate (or another TLS problem) is why a call failed.
pub(crate) fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // io::Error's `source` skips the error it wraps (tokio-rustls wraps rustls' errors so): follow `get_ref`.
        current = match err.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn plain_http_needs_no_tls_and_refuses_a_ca() {
        assert!(client_config("http://127.0.0.1:7700", None).unwrap().is_none());
        let e = client_config("http://127.0.0.1:7700", Some(Path::new("/ca.pem"))).unwrap_err();
        assert!(e.to_string().contains("only used with an https://"), "{e}");
        let e = client_config("ftp://x", None).unwrap_err();
        assert!(e.to_string().contains("http:// or https://"), "{e}");
    }

    #[test]
    fn a_bad_ca_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not pem").unwrap();
        let e = client_config("https://127.0.0.1:7700", Some(&path)).unwrap_err();
        assert!(e.to_string().contains("ca.pem") && e.to_string().contains("no PEM certificate"), "{e}");
        let e = client_config("https://127.0.0.1:7700", Some(&dir.path().join("missing.pem"))).unwrap_err();
        assert!(e.to_string().contains("missing.pem"), "{e}");
    }

    #[test]
    fn finds_a_rustls_error_wrapped_in_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let outer = std::io::Error::other(io);
        assert!(tls_failure(&outer).unwrap().contains("UnknownIssuer"));
        assert!(tls_failure(&std::io::Error::other("plain")).is_none());
    }
}

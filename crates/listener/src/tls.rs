//! HTTPS for a listener: a rustls server configuration (the ring provider) from a PEM certificate chain and key.
//! The handshake runs on the connection's own task under the header timeout, after the connection was admitted (so
//! the connection cap and eviction apply to handshakes too).

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a certificate or key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// A file is not what it should be (no certificate, not a PEM key ...).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The certificate and the key do not go together, or rustls refuses them.
    #[error("the certificate {cert} and the key {key} cannot be used together: {message}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        message: String,
    },
}

/// A listener's TLS settings: what [`crate::serve_tls`] hands each connection.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads a PEM certificate chain (the server's certificate first) and its PEM private key (PKCS#8, PKCS#1 or
    /// SEC1). Errors name the file at fault.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| TlsError::Read { path: path.to_owned(), message: e.to_string() })
        };
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        Self::from_pem(&cert_pem, cert, &key_pem, key)
    }

    /// [`Tls::from_pem_files`] on PEM text already read (`cert` and `key` name where it came from, for errors).
    pub fn from_pem(cert_pem: &[u8], cert: &Path, key_pem: &[u8], key: &Path) -> Result<Self, TlsError> {
        let invalid = |path: &Path, message: String| TlsError::Invalid { path: path.to_owned(), message };
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(cert, format!("not a valid PEM certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(invalid(cert, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
        }
        let private_key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| invalid(key, format!("not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}")))?;
        let mismatch = |message: String| TlsError::Mismatch { cert: cert.to_owned(), key: key.to_owned(), message };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| mismatch(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .map_err(|e| mismatch(e.to_string()))?;
        // The listener speaks HTTP/1.1 only (hyper's http1 connection, with upgrades for the exec streams).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) })
    }
}

/// The first byte of a TLS record carrying a handshake (a ClientHello starts with it).
pub(crate) const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a plain-HTTP request to an HTTPS listener is answered with before the connection closes.
pub(crate) const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n\
connection: close\r\ncontent-length: 49\r\n\r\nThis port serves HTTPS: use https:// to reach it.";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_plain_http_answer_declares_its_length() {
        let text = std::str::from_utf8(PLAIN_HTTP_ANSWER).unwrap();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())));
    }

    #[test]
    fn errors_name_the_file_at_fault() {
        let (cert, key) = (Path::new("/x/cert.pem"), Path::new("/x/key.pem"));
        let e = Tls::from_pem(b"junk", cert, b"junk", key).unwrap_err();
        assert!(e.to_string().contains("/x/cert.pem"), "{e}");
        let e = Tls::from_pem_files(Path::new("/nonexistent/c.pem"), key).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/c.pem"), "{e}");
    }
}

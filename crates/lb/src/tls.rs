//! HTTPS listeners: a rustls server configuration (the ring provider) from a listener's PEM certificate, with
//! ALPN `h2` and `http/1.1`.

use crate::config::Certificate;
use crate::error::LbError;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// An acceptor for `listener`'s certificate.
pub(crate) fn acceptor(listener: &str, cert: &Certificate) -> Result<TlsAcceptor, LbError> {
    let err = |message: String| LbError::Certificate { listener: listener.to_owned(), message };
    let chain = CertificateDer::pem_slice_iter(cert.chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("the certificate chain is not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(err("the certificate chain holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes())
        .map_err(|e| err(format!("the private key is not a valid PEM key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| err(format!("the certificate and key cannot be used: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

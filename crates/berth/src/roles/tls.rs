//! HTTPS for the API listener: `--tls-cert`/`--tls-key`, or `berth up --tls`'s local CA and server certificate.
//!
//! `berth up --tls` keeps, under `<data-dir>/tls/`: `ca.pem` and `ca.key` (0600), a local CA made once (ECDSA
//! P-256, ten years), and `server.pem` and `server.key` (0600), a certificate the CA signed for the names clients
//! use (`localhost`, `127.0.0.1`, `::1`, the advertised host and the machine's host name), with `server.names`
//! listing them. On each start the server certificate is kept unless its names changed, it no longer verifies
//! against `ca.pem` for each name 30 days from now (so it is also re-issued when it expires within 30 days), or it
//! does not load with its key; then a new key and certificate replace it (397 days, the longest any browser
//! accepts).

use super::files::{private_dir, write_private};
use anyhow::{Context, Result, anyhow};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long the local CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);
/// How long a server certificate is valid (browsers' limit).
const SERVER_VALIDITY: Duration = Duration::from_secs(397 * 86_400);
/// A server certificate that expires sooner than this is re-issued at start.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);
/// Issued certificates start this long before now (clocks of clients a little behind still accept them).
const BACKDATE: Duration = Duration::from_secs(3600);

/// The local CA and server certificate files of `berth up --tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTls {
    /// The CA certificate clients trust (`AWS_CA_BUNDLE`, Docker's `certs.d/HOST:PORT/ca.crt`, `--server-ca`).
    pub ca_pem: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server key (PEM, 0600).
    pub key: PathBuf,
    /// Whether the CA was created by this call.
    pub ca_created: bool,
    /// Whether the server certificate was (re-)issued by this call.
    pub cert_issued: bool,
}

/// The names the server certificate of `berth up --tls` covers: `localhost`, `127.0.0.1`, `::1`, the advertised
/// endpoint's host (`host:port`, `[v6]:port` or a bare host) and the machine's host name, each once.
pub fn server_names(advertised_endpoint: &str, host_name: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let advertised = endpoint_host(advertised_endpoint);
    for name in [Some(advertised.as_str()), host_name] {
        let Some(name) = name.map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase()) else { continue };
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The host of a `host:port` endpoint (without brackets for an IPv6 address).
fn endpoint_host(endpoint: &str) -> String {
    let endpoint = endpoint.trim();
    if let Ok(addr) = endpoint.parse::<std::net::SocketAddr>() {
        return addr.ip().to_string();
    }
    if let Some(rest) = endpoint.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match endpoint.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) && !host.contains(':') => host.to_string(),
        _ => endpoint.to_string(),
    }
}

/// This machine's host name (Linux's `/proc/sys/kernel/hostname`), if it has one.
pub fn machine_host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Makes sure `<data_dir>/tls/` holds a local CA and a server certificate for `names` that is good for 30 more
/// days at `now`, creating or re-issuing what is missing or stale (see the module's documentation).
pub fn ensure_local(data_dir: &Path, names: &[String], now: SystemTime) -> Result<LocalTls> {
    let dir = data_dir.join("tls");
    private_dir(&dir).context("preparing the TLS directory")?;
    let mut tls = LocalTls {
        ca_pem: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        ca_created: false,
        cert_issued: false,
    };
    let ca_key_path = dir.join("ca.key");
    let names_path = dir.join("server.names");
    let ca_key = if tls.ca_pem.exists() && ca_key_path.exists() {
        let pem =
            std::fs::read_to_string(&ca_key_path).with_context(|| format!("reading {}", ca_key_path.display()))?;
        KeyPair::from_pem(&pem).map_err(|e| anyhow!("{}: not a PEM private key: {e}", ca_key_path.display()))?
    } else {
        let key = KeyPair::generate().context("generating the local CA's key")?;
        let cert = ca_params(&key, now)?.self_signed(&key).context("signing the local CA's certificate")?;
        write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
        write_private(&tls.ca_pem, cert.pem().as_bytes())?;
        tls.ca_created = true;
        key
    };
    let recorded = std::fs::read_to_string(&names_path).unwrap_or_default();
    let same_names = recorded.lines().map(str::trim).filter(|l| !l.is_empty()).eq(names.iter().map(String::as_str));
    if !tls.ca_created && same_names && server_cert_good(&tls, names, now + RENEW_BEFORE) {
        return Ok(tls);
    }
    let key = KeyPair::generate().context("generating the server's key")?;
    let mut params = CertificateParams::new(names.to_vec()).context("the server certificate's names")?;
    let mut subject = DistinguishedName::new();
    subject.push(
        DnType::CommonName,
        names.iter().find(|n| n.parse::<std::net::IpAddr>().is_err()).map_or("localhost", |n| n),
    );
    subject.push(DnType::OrganizationName, "Berth");
    params.distinguished_name = subject;
    params.not_before = offset(now.checked_sub(BACKDATE).unwrap_or(now))?;
    params.not_after = offset(now + SERVER_VALIDITY)?;
    params.serial_number = Some(rcgen::SerialNumber::from(random_serial()));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let issuer = Issuer::new(ca_params(&ca_key, now)?, &ca_key);
    let cert = params.signed_by(&key, &issuer).context("signing the server certificate")?;
    write_private(&tls.key, key.serialize_pem().as_bytes())?;
    write_private(&tls.cert, cert.pem().as_bytes())?;
    write_private(&names_path, format!("{}\n", names.join("\n")).as_bytes())?;
    tls.cert_issued = true;
    Ok(tls)
}

/// The local CA's parameters. Its subject is derived from its key, so that re-deriving them from `ca.key` on a
/// later start names the same issuer as `ca.pem`, and two Berths' CAs never share a name.
fn ca_params(key: &KeyPair, now: SystemTime) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let id = params.key_identifier(key);
    let short: String = id.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, format!("Berth local CA {short}"));
    subject.push(DnType::OrganizationName, "Berth");
    params.distinguished_name = subject;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = offset(now.checked_sub(BACKDATE).unwrap_or(now))?;
    params.not_after = offset(now + CA_VALIDITY)?;
    params.serial_number = Some(rcgen::SerialNumber::from(random_serial()));
    Ok(params)
}

/// A positive random 63-bit serial number.
fn random_serial() -> u64 {
    rand::random::<u64>() >> 1 | 1
}

fn offset(at: SystemTime) -> Result<time::OffsetDateTime> {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).map_err(|_| anyhow!("the clock is before 1970"))?.as_secs();
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs)?).map_err(|e| anyhow!("a certificate date: {e}"))
}

/// Whether the server certificate loads with its key and a client trusting `ca.pem` would accept it for each of
/// `names` at `at`.
fn server_cert_good(tls: &LocalTls, names: &[String], at: SystemTime) -> bool {
    if berth_listener::Tls::from_pem_files(&tls.cert, &tls.key).is_err() {
        return false;
    }
    let Ok(verifier) = verifier(&tls.ca_pem) else { return false };
    let Ok(pem) = std::fs::read(&tls.cert) else { return false };
    let Ok(chain) = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>() else { return false };
    let Some((leaf, intermediates)) = chain.split_first() else { return false };
    let Ok(since) = at.duration_since(SystemTime::UNIX_EPOCH) else { return false };
    names.iter().all(|name| {
        let Ok(server_name) = ServerName::try_from(name.clone()) else { return false };
        verifier.verify_server_cert(leaf, intermediates, &server_name, &[], UnixTime::since_unix_epoch(since)).is_ok()
    })
}

/// A rustls verifier trusting only the certificates in `ca_pem`.
fn verifier(ca_pem: &Path) -> Result<Arc<rustls::client::WebPkiServerVerifier>> {
    let pem = std::fs::read(ca_pem).with_context(|| format!("reading {}", ca_pem.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.with_context(|| format!("{}: not PEM", ca_pem.display()))?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?)
}

/// The lines `berth up --tls` prints: how the aws CLI, the SDKs, Docker and other agents trust the local CA.
pub fn trust_lines(ca_pem: &Path, endpoint: &str) -> String {
    let ca = ca_pem.canonicalize().unwrap_or_else(|_| ca_pem.to_path_buf());
    let ca = ca.display();
    format!(
        "The API is served over HTTPS with a certificate from Berth's local CA, {ca}. Trust it:\n\n\
         export AWS_CA_BUNDLE={ca}\n\
         mkdir -p /etc/docker/certs.d/{endpoint} && cp {ca} /etc/docker/certs.d/{endpoint}/ca.crt   # docker login/push/pull\n\
         berth agent --server https://{endpoint} --server-ca {ca} ...                               # other agents\n"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // certificates are dated on the real clock
    use super::*;

    fn names() -> Vec<String> {
        server_names("127.0.0.1:7700", Some("build-host"))
    }

    #[test]
    fn names_cover_loopback_the_advertised_host_and_the_host_name_once() {
        assert_eq!(names(), ["localhost", "127.0.0.1", "::1", "build-host"]);
        assert_eq!(
            server_names("berth.example.com:7700", Some("Node1.")),
            ["localhost", "127.0.0.1", "::1", "berth.example.com", "node1"]
        );
        assert_eq!(server_names("[::1]:7700", None), ["localhost", "127.0.0.1", "::1"]);
        assert_eq!(server_names("10.0.0.7:80", Some("")), ["localhost", "127.0.0.1", "::1", "10.0.0.7"]);
    }

    #[test]
    fn creates_the_ca_and_a_certificate_that_verifies_for_each_name() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let tls = ensure_local(dir.path(), &names(), now).unwrap();
        assert!(tls.ca_created && tls.cert_issued);
        for name in names() {
            assert!(server_cert_good(&tls, std::slice::from_ref(&name), now), "{name}");
        }
        assert!(!server_cert_good(&tls, &["other.example".to_string()], now));
        assert!(!server_cert_good(&tls, &names(), now + SERVER_VALIDITY + Duration::from_secs(60)));
        berth_listener::Tls::from_pem_files(&tls.cert, &tls.key).unwrap();
        #[cfg(unix)]
        for key in ["ca.key", "server.key"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tls").join(key)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
    }

    #[test]
    fn a_restart_reuses_both_and_a_name_change_reissues_only_the_server_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let first = ensure_local(dir.path(), &names(), now).unwrap();
        let ca = std::fs::read(&first.ca_pem).unwrap();
        let cert = std::fs::read(&first.cert).unwrap();
        let again = ensure_local(dir.path(), &names(), now + Duration::from_secs(3600)).unwrap();
        assert!(!again.ca_created && !again.cert_issued);
        assert_eq!(std::fs::read(&again.cert).unwrap(), cert);
        let mut more = names();
        more.push("berth.example.com".into());
        let renamed = ensure_local(dir.path(), &more, now).unwrap();
        assert!(!renamed.ca_created && renamed.cert_issued);
        assert_eq!(std::fs::read(&renamed.ca_pem).unwrap(), ca, "the CA is kept");
        assert_ne!(std::fs::read(&renamed.cert).unwrap(), cert);
        assert!(server_cert_good(&renamed, &more, now), "the new certificate chains to the same CA");
        // Fewer names is a change too.
        let fewer = ensure_local(dir.path(), &names(), now).unwrap();
        assert!(fewer.cert_issued);
    }

    #[test]
    fn a_certificate_expiring_within_30_days_is_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        ensure_local(dir.path(), &names(), now).unwrap();
        let later = now + SERVER_VALIDITY - Duration::from_secs(29 * 86_400);
        let renewed = ensure_local(dir.path(), &names(), later).unwrap();
        assert!(renewed.cert_issued && !renewed.ca_created);
        let fine = ensure_local(dir.path(), &names(), later + Duration::from_secs(86_400)).unwrap();
        assert!(!fine.cert_issued);
    }

    #[test]
    fn a_damaged_server_key_or_a_replaced_ca_reissues() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let tls = ensure_local(dir.path(), &names(), now).unwrap();
        std::fs::write(&tls.key, "junk").unwrap();
        assert!(ensure_local(dir.path(), &names(), now).unwrap().cert_issued);
        // Another CA in ca.pem/ca.key: the old server certificate no longer chains to it.
        let other = tempfile::tempdir().unwrap();
        let other_tls = ensure_local(other.path(), &names(), now).unwrap();
        std::fs::copy(&other_tls.ca_pem, &tls.ca_pem).unwrap();
        std::fs::copy(other.path().join("tls/ca.key"), dir.path().join("tls/ca.key")).unwrap();
        let reissued = ensure_local(dir.path(), &names(), now).unwrap();
        assert!(reissued.cert_issued);
        assert!(server_cert_good(&reissued, &names(), now));
    }
}

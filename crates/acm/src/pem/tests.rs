//! ImportCertificate's checks on fixtures made with `openssl` (testdata/: a CA, `app.example.test` signed by it,
//! an unrelated RSA key, a self-signed P-256 certificate).

use super::*;

const CA: &[u8] = include_bytes!("../../testdata/ca.pem");
const APP: &[u8] = include_bytes!("../../testdata/app.pem");
const APP_KEY: &[u8] = include_bytes!("../../testdata/app.key");
const OTHER_KEY: &[u8] = include_bytes!("../../testdata/other.key");
const EC: &[u8] = include_bytes!("../../testdata/ec.pem");
const EC_KEY: &[u8] = include_bytes!("../../testdata/ec.key");
/// 2027-01-15, within every fixture's validity (they were made on 2026-11-30, for 100 years).
const NOW: f64 = 1_800_000_000.0;

fn message(r: Result<CertificateFacts, AcmError>) -> String {
    let e = r.unwrap_err();
    assert_eq!(e.exception, "ValidationException");
    e.message
}

#[test]
fn a_certificate_with_its_chain_and_key_imports() {
    let f = check_import(APP, APP_KEY, Some(CA), NOW).unwrap();
    assert_eq!(f.domain_name, "app.example.test");
    assert_eq!(f.subject_alternative_names, ["app.example.test", "www.example.test"]);
    assert_eq!(f.key_algorithm, "RSA_2048");
    assert_eq!(f.signature_algorithm, "SHA256WITHRSA");
    assert_eq!(f.issuer, "CN=Berth Test CA");
    assert_eq!(f.subject, "CN=app.example.test");
    assert!(f.not_before < NOW && NOW < f.not_after);
    assert!(f.serial.contains(':'));
    assert!(f.certificate_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(f.chain_pem.as_deref().map(|c| c.matches("BEGIN CERTIFICATE").count()), Some(1));
}

#[test]
fn a_self_signed_ec_certificate_imports_without_a_chain() {
    let f = check_import(EC, EC_KEY, None, NOW).unwrap();
    assert_eq!(f.key_algorithm, "EC_prime256v1");
    assert_eq!(f.signature_algorithm, "SHA256WITHECDSA");
    assert_eq!(f.subject_alternative_names, ["ec.example.test"]);
}

#[test]
fn mismatched_keys_and_bad_pem_are_refused() {
    assert!(message(check_import(APP, OTHER_KEY, Some(CA), NOW)).contains("does not match"));
    assert!(message(check_import(EC, APP_KEY, None, NOW)).contains("does not match"));
    assert!(message(check_import(b"not pem", APP_KEY, Some(CA), NOW)).contains("not a PEM-encoded"));
    assert!(message(check_import(APP, b"garbage", Some(CA), NOW)).contains("private key"));
    assert!(message(check_import(APP, APP_KEY, Some(b"nothing"), NOW)).contains("no PEM certificate"));
    let two = [APP, CA].concat();
    assert!(message(check_import(&two, APP_KEY, Some(CA), NOW)).contains("more than one certificate"));
    assert!(message(check_import(APP_KEY, APP_KEY, Some(CA), NOW)).contains("CERTIFICATE blocks only"));
    let encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert!(message(check_import(APP, encrypted, Some(CA), NOW)).contains("encrypted"));
    assert!(message(check_import(APP, &[b'a'; MAX_PRIVATE_KEY + 1], Some(CA), NOW)).contains("5120"));
}

#[test]
fn the_chain_must_name_the_issuer() {
    assert!(message(check_import(APP, APP_KEY, None, NOW)).contains("not self-signed"));
    assert!(message(check_import(APP, APP_KEY, Some(EC), NOW)).contains("Could not validate the certificate"));
}

#[test]
fn the_current_time_must_be_within_the_validity() {
    assert!(message(check_import(APP, APP_KEY, Some(CA), 0.0)).contains("not valid yet"));
    assert!(message(check_import(APP, APP_KEY, Some(CA), 1e10)).contains("expired"));
}

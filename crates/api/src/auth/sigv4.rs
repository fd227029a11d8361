//! AWS Signature Version 4 verification of `Authorization` headers.
//!
//! The server recomputes the signature from the request as received — the canonical request over the headers the
//! client says it signed, the body's SHA-256, the credential scope — with the secret it keeps for the access key,
//! and compares in constant time. Computing it here (rather than with `aws-sigv4`, which signs outgoing requests and
//! chooses its own header set) keeps verification exact; the tests check this code against `aws-sigv4`'s signatures.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The algorithm name in the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far the request's clock may be from ours.
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// Why a request's signature was not accepted, in AWS's exception names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header (403 `MissingAuthenticationTokenException`).
    #[error("Missing Authentication Token")]
    Missing,
    /// The header is not a well-formed SigV4 header (400 `IncompleteSignatureException`).
    #[error("{0}")]
    Incomplete(String),
    /// The access key is not known (403 `UnrecognizedClientException`).
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// The signature does not match, or the request is too old or new (403 `InvalidSignatureException`).
    #[error("{0}")]
    Invalid(String),
    /// STS session credentials past their expiry (400 `ExpiredTokenException`).
    #[error("The security token included in the request is expired")]
    ExpiredToken,
}

/// The parts of a SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    /// The access key id.
    pub access_key_id: String,
    /// The scope date, `YYYYMMDD`.
    pub date: String,
    /// The scope region.
    pub region: String,
    /// The scope service.
    pub service: String,
    /// Signed header names, lowercase, as listed.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request, SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(value: &str) -> Result<AuthorizationHeader, SigV4Error> {
    let incomplete = |what: &str| {
        SigV4Error::Incomplete(format!(
            "Authorization header {what}. The request signature does not conform to AWS standards."
        ))
    };
    let rest = value
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| incomplete("does not use the AWS4-HMAC-SHA256 algorithm"))?
        .trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        } else if !part.is_empty() {
            return Err(incomplete(&format!("has an unknown component {part:?}")));
        }
    }
    let credential = credential.ok_or_else(|| incomplete("lacks Credential"))?;
    let signed = signed.ok_or_else(|| incomplete("lacks SignedHeaders"))?;
    let signature = signature.ok_or_else(|| incomplete("lacks Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope.as_slice() else {
        return Err(incomplete("has a malformed Credential scope (expected KEY/DATE/REGION/SERVICE/aws4_request)"));
    };
    if *terminator != "aws4_request"
        || access_key_id.is_empty()
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(incomplete("has a malformed Credential scope (expected KEY/DATE/REGION/SERVICE/aws4_request)"));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("has a malformed Signature"));
    }
    let signed_headers: Vec<String> = signed.split(';').map(|h| h.trim().to_ascii_lowercase()).collect();
    if signed_headers.iter().any(String::is_empty) || !signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete("must sign the host header"));
    }
    Ok(AuthorizationHeader {
        access_key_id: access_key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// Parses an `X-Amz-Date` value (`20260101T120000Z`) into Unix seconds.
pub fn parse_amz_date(text: &str) -> Option<i64> {
    if text.len() != 16 || &text[8..9] != "T" || !text.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

/// Formats Unix seconds as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", secs / 3600, (secs % 3600) / 60, secs % 60)
}

const URI_UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn uri_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, URI_UNRESERVED).to_string()
}

/// The canonical URI: every path segment URI-encoded (the raw path's escapes are encoded again, as SigV4 does for
/// every service but S3).
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/').map(uri_encode).collect::<Vec<_>>().join("/")
}

/// The canonical query string: parameters decoded, re-encoded, sorted by name then value.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode =
                |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (uri_encode(&decode(k)), uri_encode(&decode(v)))
        })
        .collect();
    pairs.sort();
    pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A request as the verifier needs it.
pub struct SignedRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The raw path, as received.
    pub path: &'a str,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// Header (name, value) pairs; names in any case; repeated names allowed.
    pub headers: Vec<(String, String)>,
    /// The hex SHA-256 of the body as received (never the client's claim: see [`crate::auth`]).
    pub payload_hash: String,
}

/// The canonical request over the signed headers.
pub fn canonical_request(req: &SignedRequest<'_>, signed_headers: &[String]) -> Result<String, SigV4Error> {
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let values: Vec<String> =
            req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| collapse_spaces(v)).collect();
        if values.is_empty() {
            return Err(SigV4Error::Incomplete(format!(
                "The request signature lists the header {name:?}, which the request does not carry."
            )));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(req.path),
        canonical_query(req.query),
        canonical_headers,
        signed_headers.join(";"),
        req.payload_hash
    ))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The signature of a string to sign with a secret and scope.
pub fn sign(secret: &str, date: &str, region: &str, service: &str, string_to_sign: &str) -> String {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The message AWS gives when the recomputed signature differs from the one sent.
pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// Checks the credential scope: its region must be `region` (Berth's) and its service `service` (the signing name
/// of the service the `X-Amz-Target` names), with AWS's messages.
pub fn check_scope(header: &AuthorizationHeader, region: &str, service: &str) -> Result<(), SigV4Error> {
    if header.region != region {
        return Err(SigV4Error::Invalid("Credential should be scoped to a valid region.".into()));
    }
    if header.service != service {
        return Err(SigV4Error::Invalid(format!("Credential should be scoped to correct service: '{service}'.")));
    }
    Ok(())
}

/// Checks the request time against our clock (15 minutes either way, as AWS) and against the scope's date.
pub fn check_time(header: &AuthorizationHeader, amz_date: &str, now_unix: i64) -> Result<(), SigV4Error> {
    let request_time = parse_amz_date(amz_date).ok_or_else(|| {
        SigV4Error::Incomplete(format!("Invalid X-Amz-Date {amz_date:?}: expected the form 20260101T120000Z."))
    })?;
    if !amz_date.starts_with(&header.date) {
        return Err(SigV4Error::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            header.date,
            &amz_date[..8]
        )));
    }
    if request_time < now_unix - MAX_SKEW_SECONDS {
        return Err(SigV4Error::Invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            format_amz_date(now_unix - MAX_SKEW_SECONDS),
            format_amz_date(now_unix)
        )));
    }
    if request_time > now_unix + MAX_SKEW_SECONDS {
        return Err(SigV4Error::Invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            format_amz_date(now_unix + MAX_SKEW_SECONDS),
            format_amz_date(now_unix)
        )));
    }
    Ok(())
}

/// Checks that every `x-amz-*` header the request carries (`x-amz-target`, `x-amz-date`, `x-amz-security-token`,
/// `x-amz-content-sha256` ...) is among the signed headers, so that none can be swapped under a captured signature.
/// `host` is checked by [`parse_authorization`]; `content-type` and headers outside `x-amz-*` (`user-agent`,
/// `x-amzn-trace-id`, which the SDKs leave unsigned) need not be signed.
pub fn check_signed_headers<'h>(
    header: &AuthorizationHeader,
    names: impl IntoIterator<Item = &'h str>,
) -> Result<(), SigV4Error> {
    let mut unsigned: Vec<String> = names
        .into_iter()
        .map(str::to_ascii_lowercase)
        .filter(|name| name.starts_with("x-amz-") && !header.signed_headers.contains(name))
        .collect();
    unsigned.sort();
    unsigned.dedup();
    if unsigned.is_empty() {
        return Ok(());
    }
    Err(SigV4Error::Invalid(format!(
        "There were headers present in the request which were not signed: {}. Every x-amz-* header must be listed in SignedHeaders.",
        unsigned.join(", ")
    )))
}

/// Verifies the signature itself: recomputes it over the canonical request with the secret and compares.
pub fn verify_signature(
    header: &AuthorizationHeader,
    req: &SignedRequest<'_>,
    amz_date: &str,
    secret: &str,
) -> Result<(), SigV4Error> {
    let canonical = canonical_request(req, &header.signed_headers)?;
    let scope = format!("{}/{}/{}/aws4_request", header.date, header.region, header.service);
    let string_to_sign = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
    let expected = sign(secret, &header.date, &header.region, &header.service, &string_to_sign);
    if !constant_time_eq(expected.as_bytes(), header.signature.as_bytes()) {
        return Err(SigV4Error::Invalid(SIGNATURE_MISMATCH.into()));
    }
    Ok(())
}

/// Verifies a request's time and signature given the parsed header, the secret and our clock (the scope and the
/// signed-header set are checked separately, by [`check_scope`] and [`check_signed_headers`]).
pub fn verify(
    header: &AuthorizationHeader,
    req: &SignedRequest<'_>,
    amz_date: &str,
    secret: &str,
    now_unix: i64,
) -> Result<(), SigV4Error> {
    check_time(header, amz_date, now_unix)?;
    verify_signature(header, req, amz_date, secret)
}

#[cfg(test)]
mod tests;

//! Who is calling: access keys, their secrets, and SigV4 authentication of AWS requests.

pub mod sigv4;

use crate::error::ApiError;
use http::HeaderMap;
use sigv4::{SigV4Error, SignedRequest};
use std::collections::HashMap;

/// An identity that may call the AWS APIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The account it belongs to.
    pub account_id: String,
    /// Its ARN (`arn:aws:iam::<account>:root` for root credentials).
    pub arn: String,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The access key that signed the request.
    pub access_key_id: String,
    /// The caller's account.
    pub account_id: String,
    /// The caller's ARN.
    pub arn: String,
}

/// The access keys the server accepts.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_key: HashMap<String, Principal>,
}

impl Credentials {
    /// A set holding these principals.
    pub fn new(principals: impl IntoIterator<Item = Principal>) -> Self {
        Self { by_key: principals.into_iter().map(|p| (p.access_key_id.clone(), p)).collect() }
    }

    /// The principal of an access key.
    pub fn get(&self, access_key_id: &str) -> Option<&Principal> {
        self.by_key.get(access_key_id)
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Authenticates a SigV4-signed request (header form) and returns the caller.
pub fn authenticate(
    credentials: &Credentials,
    method: &str,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<Caller, ApiError> {
    let authorization = header(headers, "authorization").ok_or(SigV4Error::Missing)?;
    let parsed = sigv4::parse_authorization(authorization)?;
    let principal = credentials.get(&parsed.access_key_id).ok_or(SigV4Error::UnknownKey)?;
    let amz_date = header(headers, "x-amz-date").ok_or_else(|| {
        SigV4Error::Incomplete(
            "The request must carry an X-Amz-Date header when it is signed in the Authorization header.".into(),
        )
    })?;
    let body_hash = sigv4::sha256_hex(body);
    let payload_hash = match header(headers, "x-amz-content-sha256") {
        Some("UNSIGNED-PAYLOAD") => "UNSIGNED-PAYLOAD".to_string(),
        Some(claimed) if !claimed.eq_ignore_ascii_case(&body_hash) => {
            return Err(SigV4Error::Invalid(
                "The provided x-amz-content-sha256 header does not match what was computed.".into(),
            )
            .into());
        }
        _ => body_hash,
    };
    let request = SignedRequest {
        method,
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
            .collect(),
        payload_hash,
    };
    sigv4::verify(&parsed, &request, amz_date, &principal.secret_access_key, now_unix)?;
    Ok(Caller {
        access_key_id: principal.access_key_id.clone(),
        account_id: principal.account_id.clone(),
        arn: principal.arn.clone(),
    })
}

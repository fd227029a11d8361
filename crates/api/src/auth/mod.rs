//! Who is calling: access keys, their secrets, and SigV4 authentication of AWS requests.

pub mod sigv4;
pub mod throttle;

use http::HeaderMap;
use sigv4::{AuthorizationHeader, SigV4Error, SignedRequest};
use std::collections::HashMap;
use std::sync::Arc;

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
    /// Whose IAM policies apply (`None`: the account root, which may do everything).
    pub identity: Option<berth_iam::Identity>,
    /// For STS session credentials: the SHA-256 (hex) of the session token requests must carry, and its expiry
    /// (epoch seconds).
    pub session: Option<(String, i64)>,
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
    /// Set when the caller is a Berth agent, authenticated by its instance token (`Authorization: Bearer`) instead
    /// of a SigV4 signature: the container instance it speaks for. Such a caller may only call the operations an
    /// agent needs (the ECS `Submit*` state changes, DiscoverPollEndpoint).
    pub agent: Option<berth_control::state_changes::AgentCaller>,
    /// The `Host` header the caller signed (`host:port`): where the caller reached this server.
    pub host: Option<String>,
    /// Whose IAM policies apply: `None` for the account root and for agents (which have their own checks).
    pub identity: Option<berth_iam::Identity>,
    /// The client's address, when the request came through a Berth listener (`aws:SourceIp`).
    pub source_ip: Option<std::net::IpAddr>,
    /// The `x-berth-replication-source` header of a SigV4-signed request: the registry id of a Berth server
    /// replicating into this one (ECR uses it to pick REPLICATION creation templates).
    pub replication_source: Option<String>,
}

/// The access keys the server accepts: the root key(s), and IAM users' keys and STS sessions when IAM is on.
#[derive(Clone, Default)]
pub struct Credentials {
    by_key: HashMap<String, Principal>,
    iam: Option<Arc<berth_iam::Iam>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        f.debug_struct("Credentials").field("root_keys", &self.by_key.len()).field("iam", &self.iam.is_some()).finish()
    }
}

impl Credentials {
    /// A set holding these principals.
    pub fn new(principals: impl IntoIterator<Item = Principal>) -> Self {
        Self { by_key: principals.into_iter().map(|p| (p.access_key_id.clone(), p)).collect(), iam: None }
    }

    /// Also accepts IAM users' access keys and STS session credentials.
    pub fn with_iam(mut self, iam: Arc<berth_iam::Iam>) -> Self {
        self.iam = Some(iam);
        self
    }

    /// IAM, when on.
    pub fn iam(&self) -> Option<&Arc<berth_iam::Iam>> {
        self.iam.as_ref()
    }

    /// The principal of an access key.
    pub fn get(&self, access_key_id: &str) -> Option<Principal> {
        if let Some(root) = self.by_key.get(access_key_id) {
            return Some(root.clone());
        }
        let iam = self.iam.as_ref()?;
        let found = iam.lookup_key(access_key_id)?;
        Some(Principal {
            access_key_id: access_key_id.to_string(),
            secret_access_key: found.secret,
            account_id: iam.account_id().to_string(),
            arn: found.arn,
            identity: Some(found.identity),
            session: found.session,
        })
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What a request's credential scope must name: Berth's region and the signing name of the service its
/// `X-Amz-Target` is for (`ecs`, `ecr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    /// Berth's region.
    pub region: &'a str,
    /// The service's signing name.
    pub service: &'a str,
}

/// A request whose headers passed every check that needs no body; [`Pending::finish`] verifies the signature
/// once the body's hash is known.
pub struct Pending<'a> {
    principal: Principal,
    _credentials: std::marker::PhantomData<&'a Credentials>,
    header: AuthorizationHeader,
    amz_date: String,
}

/// Checks everything about a SigV4 request that does not need its body, in the order AWS reports problems:
/// the `Authorization` header is present and well formed, its access key is known, `X-Amz-Date` is present, the
/// scope names Berth's region and the right service, the time is within 15 minutes of ours, and every `x-amz-*`
/// header present is signed. Nothing here reads the body, so an unauthenticated client never makes the server
/// buffer one.
pub fn check_headers<'a>(
    credentials: &'a Credentials,
    headers: &HeaderMap,
    scope: Scope<'_>,
    now_unix: i64,
) -> Result<Pending<'a>, SigV4Error> {
    let authorization = header(headers, "authorization").ok_or(SigV4Error::Missing)?;
    let parsed = sigv4::parse_authorization(authorization)?;
    let principal = credentials.get(&parsed.access_key_id).ok_or(SigV4Error::UnknownKey)?;
    let amz_date = header(headers, "x-amz-date").ok_or_else(|| {
        SigV4Error::Incomplete(
            "The request must carry an X-Amz-Date header when it is signed in the Authorization header.".into(),
        )
    })?;
    sigv4::check_scope(&parsed, scope.region, scope.service)?;
    sigv4::check_time(&parsed, amz_date, now_unix)?;
    sigv4::check_signed_headers(&parsed, headers.keys().map(http::HeaderName::as_str))?;
    check_session(&principal, headers, now_unix)?;
    Ok(Pending { principal, _credentials: std::marker::PhantomData, header: parsed, amz_date: amz_date.to_string() })
}

/// Session credentials must come with their token (`X-Amz-Security-Token`, which must then be signed) and be
/// unexpired; a token sent with long-term credentials is refused as AWS does.
fn check_session(principal: &Principal, headers: &HeaderMap, now_unix: i64) -> Result<(), SigV4Error> {
    let token = header(headers, "x-amz-security-token");
    match (&principal.session, token) {
        (None, None) => Ok(()),
        (None, Some(_)) | (Some(_), None) => Err(SigV4Error::UnknownKey),
        (Some((sha256, expires)), Some(token)) => {
            if berth_iam::ops::sts::token_sha256(token) != *sha256 {
                return Err(SigV4Error::UnknownKey);
            }
            if *expires <= now_unix {
                return Err(SigV4Error::ExpiredToken);
            }
            Ok(())
        }
    }
}

impl std::fmt::Debug for Pending<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Pending").field("access_key_id", &self.principal.access_key_id).finish_non_exhaustive()
    }
}

impl Pending<'_> {
    /// Verifies the signature over the request with the body's SHA-256 (hex), and returns the caller.
    ///
    /// The payload hash in the canonical request is always the hash of the body as received. On AWS JSON 1.1 APIs
    /// AWS does the same: `x-amz-content-sha256` is an S3 header, so a request signed with `UNSIGNED-PAYLOAD` (or
    /// a `STREAMING-*` value) fails as a signature mismatch, 403 `InvalidSignatureException`, and a body cannot be
    /// swapped under a valid signature. A hex `x-amz-content-sha256` that differs from the body's hash is refused.
    pub fn finish(
        self,
        method: &str,
        uri: &http::Uri,
        headers: &HeaderMap,
        body_sha256_hex: &str,
    ) -> Result<Caller, SigV4Error> {
        if let Some(claimed) = header(headers, "x-amz-content-sha256") {
            let is_hash = claimed.len() == 64 && claimed.bytes().all(|b| b.is_ascii_hexdigit());
            if is_hash && !claimed.eq_ignore_ascii_case(body_sha256_hex) {
                return Err(SigV4Error::Invalid(
                    "The provided x-amz-content-sha256 header does not match what was computed.".into(),
                ));
            }
        }
        let request = SignedRequest {
            method,
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            headers: headers
                .iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
                .collect(),
            payload_hash: body_sha256_hex.to_string(),
        };
        sigv4::verify_signature(&self.header, &request, &self.amz_date, &self.principal.secret_access_key)?;
        Ok(Caller {
            access_key_id: self.principal.access_key_id.clone(),
            account_id: self.principal.account_id.clone(),
            arn: self.principal.arn.clone(),
            agent: None,
            host: header(headers, "host").map(str::to_string),
            identity: self.principal.identity.clone(),
            source_ip: None,
            replication_source: header(headers, berth_registry::replication::SOURCE_HEADER).map(str::to_string),
        })
    }
}

/// Authenticates a SigV4-signed request (header form) whose body is already in memory, and returns the caller:
/// [`check_headers`] then [`Pending::finish`].
pub fn authenticate(
    credentials: &Credentials,
    method: &str,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    scope: Scope<'_>,
    now_unix: i64,
) -> Result<Caller, SigV4Error> {
    check_headers(credentials, headers, scope, now_unix)?.finish(method, uri, headers, &sigv4::sha256_hex(body))
}

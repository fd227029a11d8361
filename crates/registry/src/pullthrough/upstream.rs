//! The client side of the OCI Distribution protocol, for pull-through: GET a manifest or a blob from an upstream
//! registry, answering its auth challenge.
//!
//! Auth follows the Docker token flow: a `401` with `WWW-Authenticate: Bearer realm=...,service=...,scope=...` is
//! answered by a GET of the realm (with the rule's credentials as Basic auth, if it has any) for a token, then the
//! request is repeated with `Authorization: Bearer <token>`; a `Basic` challenge is answered with the credentials.
//! The header that worked is kept per upstream repository and reused until the upstream refuses it again.

use super::rules::UpstreamCredentials;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// What a manifest GET asks for: every manifest type the registry stores.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// An upstream failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream could not be reached or broke off.
    #[error("the upstream registry {url} could not be reached: {reason}")]
    Unreachable {
        /// What was asked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The upstream does not have it (404).
    #[error("the upstream registry has no {url}")]
    NotFound {
        /// What was asked.
        url: String,
    },
    /// The upstream refused the credentials (or wanted some).
    #[error("the upstream registry refused authentication for {url}: {reason}")]
    Auth {
        /// What was asked.
        url: String,
        /// Why.
        reason: String,
    },
    /// Any other answer.
    #[error("the upstream registry answered {status} for {url}")]
    Status {
        /// What was asked.
        url: String,
        /// The HTTP status.
        status: u16,
    },
}

/// Where and as whom to ask.
pub(crate) struct Target<'a> {
    /// `https://host` or `http://host:port`.
    pub base: &'a str,
    /// The upstream repository (`None` for the `/v2/` ping).
    pub repository: Option<&'a str>,
    /// The rule's credentials.
    pub credentials: Option<&'a UpstreamCredentials>,
}

/// The HTTP client and the auth headers that worked.
pub(crate) struct UpstreamClient {
    http: reqwest::Client,
    auth: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient").finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// A client with connect and read timeouts (a blob is streamed, so there is no total timeout) that trusts the
    /// system's CA roots and, for upstreams with a private CA, the certificates in `extra_ca` (PEM).
    pub(crate) fn new(extra_ca: Option<&Path>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("berth-registry/", env!("CARGO_PKG_VERSION"), " (pull-through cache)"))
            .tls_certs_merge(extra_roots(extra_ca)?)
            .build()
            .map_err(|e| format!("building the upstream HTTP client: {}", describe(&e)))?;
        Ok(UpstreamClient { http, auth: Mutex::new(HashMap::new()) })
    }

    /// The HTTP client itself (replication pushes to other Berth servers with it).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// GETs `/v2/<repository>/<tail>` (or `/v2/` without a repository), authenticating as the upstream asks.
    /// Returns the successful response (2xx) with its body unread.
    pub(crate) async fn get(
        &self,
        target: &Target<'_>,
        tail: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = match target.repository {
            Some(repo) => format!("{}/v2/{repo}/{tail}", target.base),
            None => format!("{}/v2/", target.base),
        };
        let cache_key = format!("{} {}", target.base, target.repository.unwrap_or(""));
        let cached = crate::lock(&self.auth).get(&cache_key).cloned();
        let response = self.send(&url, accept, cached.as_deref()).await?;
        let response = if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            let challenge = response
                .headers()
                .get(http::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let header = self.answer(&url, &challenge, target).await?;
            let retried = self.send(&url, accept, Some(&header)).await?;
            if retried.status() == reqwest::StatusCode::UNAUTHORIZED {
                crate::lock(&self.auth).remove(&cache_key);
                return Err(UpstreamError::Auth { url, reason: "the credentials were refused".into() });
            }
            crate::lock(&self.auth).insert(cache_key, header);
            retried
        } else {
            response
        };
        match response.status() {
            s if s.is_success() => Ok(response),
            reqwest::StatusCode::NOT_FOUND => Err(UpstreamError::NotFound { url }),
            reqwest::StatusCode::FORBIDDEN => {
                Err(UpstreamError::Auth { url, reason: "access to the upstream repository is denied".into() })
            }
            s => Err(UpstreamError::Status { url, status: s.as_u16() }),
        }
    }

    async fn send(
        &self,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut request = self.http.get(url);
        if let Some(accept) = accept {
            request = request.header(http::header::ACCEPT, accept);
        }
        if let Some(auth) = authorization {
            request = request.header(http::header::AUTHORIZATION, auth);
        }
        request.send().await.map_err(|e| UpstreamError::Unreachable { url: url.to_string(), reason: describe(&e) })
    }

    /// The `Authorization` header answering a challenge.
    async fn answer(&self, url: &str, challenge: &str, target: &Target<'_>) -> Result<String, UpstreamError> {
        let auth_err = |reason: String| UpstreamError::Auth { url: url.to_string(), reason };
        let (scheme, params) = parse_challenge(challenge);
        let basic = target
            .credentials
            .map(|c| format!("Basic {}", STANDARD.encode(format!("{}:{}", c.username, c.access_token))));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => basic.ok_or_else(|| auth_err("the upstream requires credentials and the rule has none".into())),
            "bearer" => {
                let realm = params
                    .get("realm")
                    .ok_or_else(|| auth_err("the Bearer challenge names no realm".into()))?
                    .to_string();
                let mut query: Vec<(&str, String)> = Vec::new();
                if let Some(service) = params.get("service") {
                    query.push(("service", service.clone()));
                }
                match (params.get("scope"), target.repository) {
                    (Some(scope), _) => query.push(("scope", scope.clone())),
                    (None, Some(repo)) => query.push(("scope", format!("repository:{repo}:pull"))),
                    (None, None) => {}
                }
                let token_url = reqwest::Url::parse_with_params(&realm, &query)
                    .map_err(|e| auth_err(format!("the Bearer challenge's realm {realm:?} is not a URL: {e}")))?;
                let mut request = self.http.get(token_url);
                if let Some(basic) = &basic {
                    request = request.header(http::header::AUTHORIZATION, basic);
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| UpstreamError::Unreachable { url: realm.clone(), reason: describe(&e) })?;
                if !response.status().is_success() {
                    return Err(auth_err(format!("the token service {realm} answered {}", response.status())));
                }
                let body: serde_json::Value = response
                    .json()
                    .await
                    .map_err(|e| auth_err(format!("the token service's answer is not JSON: {e}")))?;
                let token = body
                    .get("token")
                    .or_else(|| body.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| auth_err("the token service's answer has no token".into()))?;
                Ok(format!("Bearer {token}"))
            }
            "" => Err(auth_err("401 without a WWW-Authenticate challenge".into())),
            other => Err(auth_err(format!("unsupported auth scheme {other}"))),
        }
    }
}

/// The extra CA certificates (PEM) trusted for https upstreams, besides the system's.
fn extra_roots(extra_ca: Option<&Path>) -> Result<Vec<reqwest::Certificate>, String> {
    let Some(path) = extra_ca else { return Ok(Vec::new()) };
    let pem = std::fs::read(path).map_err(|e| format!("reading the upstream CA file {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("the upstream CA file {} is not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("the upstream CA file {} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// A transport error with its causes (reqwest's top-level message alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Splits `Scheme k="v",k2=v2` into the scheme and its parameters (quoted values may hold commas).
pub(crate) fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        params.insert(key, value.trim().to_string());
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quoted_commas() {
        let (scheme, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/a:pull,push""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/a:pull,push");
        let (scheme, p) = parse_challenge(r#"Basic realm=Registry"#);
        assert_eq!((scheme.as_str(), p["realm"].as_str()), ("Basic", "Registry"));
        let (scheme, p) = parse_challenge("");
        assert!(scheme.is_empty() && p.is_empty());
    }
}

//! Registry credentials: self-verifying tokens, and the parsing of `Authorization` headers.
//!
//! A token is `brt1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(secret, claims JSON))>`. The 32-byte secret is
//! created once in the data directory (mode 0600), so tokens survive restarts and verifying one needs no store
//! read or write. GetAuthorizationToken hands out `base64("AWS:" + token)`: `docker login -u AWS -p <token>`, Basic
//! auth with the same pair, or `Bearer <token>` all work. The Docker token-auth flow (401 with a `Bearer` challenge,
//! then `GET /v2/token` with Basic credentials) returns the same token as the bearer token.

use crate::error::{RegistryError, Result};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use berth_model::Timestamp;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const TOKEN_PREFIX: &str = "brt1.";
/// The user name registry clients log in with.
pub const USER: &str = "AWS";

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The principal's ARN.
    pub sub: String,
    /// The principal's account.
    pub acct: String,
    /// The access key the token was issued to.
    #[serde(default)]
    pub ak: String,
    /// Expiry, epoch seconds.
    pub exp: Timestamp,
    /// Whether the token may push (and delete); every token may pull.
    pub push: bool,
    /// Restricts the token to one repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Restricts the token to one blob (a layer download URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

impl Claims {
    /// Whether the claims allow `push` (or pull) access to `repo`.
    pub fn allows(&self, repo: Option<&str>, push: bool) -> bool {
        if push && !self.push {
            return false;
        }
        match (&self.repo, repo) {
            (Some(only), Some(repo)) => only == repo,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }
}

/// Credentials found on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No `Authorization` header.
    None,
    /// Basic user and password.
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// A bearer token.
    Bearer(String),
}

impl Credentials {
    /// Parses an `Authorization` header value.
    pub fn parse(header: Option<&str>) -> Result<Self> {
        let Some(value) = header else { return Ok(Credentials::None) };
        let bad = |reason: &str| RegistryError::Unauthorized { reason: reason.to_string() };
        let (scheme, rest) = value.trim().split_once(' ').ok_or_else(|| bad("malformed Authorization header"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let decoded = STANDARD.decode(rest.trim()).map_err(|_| bad("Basic credentials are not base64"))?;
                let text = String::from_utf8(decoded).map_err(|_| bad("Basic credentials are not UTF-8"))?;
                let (user, password) =
                    text.split_once(':').ok_or_else(|| bad("Basic credentials need user:password"))?;
                Ok(Credentials::Basic { user: user.to_string(), password: password.to_string() })
            }
            "bearer" => Ok(Credentials::Bearer(rest.trim().to_string())),
            _ => Err(bad("unsupported authorization scheme")),
        }
    }

    /// The token the credentials carry (the Basic password, or the bearer token).
    pub fn token(&self) -> Option<&str> {
        match self {
            Credentials::None => None,
            Credentials::Basic { password, .. } => Some(password),
            Credentials::Bearer(token) => Some(token),
        }
    }
}

/// Issues and verifies tokens with the registry's secret.
pub struct TokenAuth {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for TokenAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenAuth(..)")
    }
}

impl TokenAuth {
    /// Uses the secret in `dir/token.key`, creating it (mode 0600, written atomically) on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        let path = dir.join("token.key");
        let io = |operation: &'static str, p: &Path| {
            let path = p.display().to_string();
            move |source| RegistryError::Io { operation, path, source }
        };
        match std::fs::read(&path) {
            Ok(key) if key.len() == 32 => return Self::with_key(&key),
            Ok(_) => tracing::warn!(path = %path.display(), "registry token secret is malformed; replacing it"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read", &path)(e)),
        }
        crate::storage::create_private_dir(dir).map_err(io("create directory", dir))?;
        let key: [u8; 32] = rand::random();
        let tmp = dir.join(format!(".token.key.{}", uuid::Uuid::new_v4()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        file.write_all(&key).and_then(|_| file.sync_all()).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))?;
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("fsync", dir))?;
        Self::with_key(&key)
    }

    /// A verifier with a given secret.
    pub fn with_key(key: &[u8]) -> Result<Self> {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .map_err(|e| RegistryError::InvalidParameter { reason: format!("token secret: {e}") })?;
        Ok(Self { mac })
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }

    /// Issues a token for `claims`.
    pub fn issue(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&payload);
        let sig = mac.finalize().into_bytes();
        format!("{TOKEN_PREFIX}{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(sig))
    }

    /// Verifies a token's signature and expiry at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Claims> {
        let bad = |reason: &str| RegistryError::Unauthorized { reason: reason.to_string() };
        let rest = token.strip_prefix(TOKEN_PREFIX).ok_or_else(|| bad("not a Berth registry token"))?;
        let (payload, sig) = rest.split_once('.').ok_or_else(|| bad("malformed token"))?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad("malformed token"))?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| bad("malformed token"))?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&sig).map_err(|_| bad("token signature is invalid"))?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| bad("malformed token claims"))?;
        if claims.exp <= now {
            return Err(bad("token has expired"));
        }
        Ok(claims)
    }
}

/// The password docker receives from GetAuthorizationToken, encoded as ECR encodes it: `base64("AWS:" + token)`.
pub fn encode_authorization_token(token: &str) -> String {
    STANDARD.encode(format!("{USER}:{token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: f64) -> Claims {
        Claims {
            sub: "arn:aws:iam::000000000000:root".into(),
            acct: "000000000000".into(),
            ak: "AKID".into(),
            exp,
            push: true,
            repo: None,
            blob: None,
        }
    }

    #[test]
    fn tokens_verify_and_expire() {
        let auth = TokenAuth::with_key(b"k").unwrap();
        let token = auth.issue(&claims(100.0));
        assert_eq!(auth.verify(&token, 50.0).unwrap(), claims(100.0));
        assert!(matches!(auth.verify(&token, 100.0), Err(RegistryError::Unauthorized { .. })));
        assert!(TokenAuth::with_key(b"other").unwrap().verify(&token, 50.0).is_err());
        let mut tampered = token.clone();
        tampered.insert(10, 'x');
        assert!(auth.verify(&tampered, 50.0).is_err());
        assert!(auth.verify("garbage", 50.0).is_err());
    }

    #[test]
    fn secret_persists_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let a = TokenAuth::load_or_create(dir.path()).unwrap();
        let b = TokenAuth::load_or_create(dir.path()).unwrap();
        let token = a.issue(&claims(100.0));
        assert!(b.verify(&token, 1.0).is_ok());
        let mode = std::fs::metadata(dir.path().join("token.key")).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    }

    #[test]
    fn parses_authorization_headers() {
        assert_eq!(Credentials::parse(None).unwrap(), Credentials::None);
        let basic = format!("Basic {}", STANDARD.encode("AWS:tok"));
        assert_eq!(Credentials::parse(Some(&basic)).unwrap().token(), Some("tok"));
        assert_eq!(Credentials::parse(Some("Bearer abc")).unwrap(), Credentials::Bearer("abc".into()));
        assert!(Credentials::parse(Some("Basic !!!")).is_err());
        assert!(Credentials::parse(Some("Digest x")).is_err());
        assert_eq!(encode_authorization_token("t"), STANDARD.encode("AWS:t"));
    }

    #[test]
    fn scopes_restrict_access() {
        let mut c = claims(10.0);
        c.push = false;
        c.repo = Some("app".into());
        assert!(c.allows(Some("app"), false));
        assert!(!c.allows(Some("app"), true));
        assert!(!c.allows(Some("other"), false));
        assert!(!c.allows(None, false));
    }
}

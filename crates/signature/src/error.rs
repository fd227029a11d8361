//! Why a key, a certificate or a signature is refused.

/// A signing or verification failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The private key cannot be used.
    #[error("signing key: {reason}")]
    Key {
        /// Why.
        reason: String,
    },
    /// A certificate cannot be read or is not acceptable.
    #[error("certificate: {reason}")]
    Certificate {
        /// Why.
        reason: String,
    },
    /// A signature, envelope or manifest is not in the format.
    #[error("malformed signature: {what}")]
    Malformed {
        /// What is wrong.
        what: String,
    },
    /// The signature covers another image.
    #[error("the signature is for {found}, not {expected}")]
    WrongSubject {
        /// The image checked.
        expected: String,
        /// What the signature names.
        found: String,
    },
    /// The signature does not verify with the signer's key.
    #[error("the signature does not verify: {reason}")]
    BadSignature {
        /// Why.
        reason: String,
    },
    /// The signer is not trusted.
    #[error("the signer is not trusted: {reason}")]
    Untrusted {
        /// Why.
        reason: String,
    },
    /// A blob of the signature could not be fetched.
    #[error("fetching {digest}: {reason}")]
    Fetch {
        /// The blob.
        digest: String,
        /// Why.
        reason: String,
    },
}

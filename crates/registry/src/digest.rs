//! Content digests (`sha256:<64 hex>`, `sha512:<128 hex>`) and the incremental hashers that verify them.

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::str::FromStr;

/// A digest algorithm the registry verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the default everywhere.
    Sha256,
    /// SHA-512, accepted for blobs when a client asks for it.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name in a digest string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Parses an algorithm name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A validated content digest: a known algorithm and its lowercase hex encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The string has no `algorithm:` part.
    #[error("digest {value:?} has no algorithm prefix")]
    MissingAlgorithm {
        /// The rejected text.
        value: String,
    },
    /// The algorithm is not sha256 or sha512.
    #[error("digest algorithm {algorithm:?} is not supported (use sha256 or sha512)")]
    UnsupportedAlgorithm {
        /// The algorithm named.
        algorithm: String,
    },
    /// The encoded part is not lowercase hex of the right length.
    #[error("digest {value:?} is not {expected} lowercase hex characters after the algorithm")]
    BadEncoding {
        /// The rejected text.
        value: String,
        /// The length the algorithm needs.
        expected: usize,
    },
}

impl Digest {
    /// Parses `algorithm:hex`, rejecting unknown algorithms and malformed encodings.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let (algorithm, hex) =
            value.split_once(':').ok_or_else(|| DigestError::MissingAlgorithm { value: value.to_string() })?;
        let algorithm = Algorithm::parse(algorithm)
            .ok_or_else(|| DigestError::UnsupportedAlgorithm { algorithm: algorithm.to_string() })?;
        let expected = algorithm.hex_len();
        if hex.len() != expected || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(DigestError::BadEncoding { value: value.to_string(), expected });
        }
        Ok(Self { algorithm, hex: hex.to_string() })
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self { algorithm: Algorithm::Sha256, hex: hex::encode(Sha256::digest(bytes)) }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoding.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An incremental hasher for one algorithm; cheap to clone, so a failed chunk can roll back.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hasher({})", self.algorithm().as_str())
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Self::Sha256(Sha256::new()),
            Algorithm::Sha512 => Self::Sha512(Sha512::new()),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Sha256(_) => Algorithm::Sha256,
            Self::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let algorithm = self.algorithm();
        let hex = match self {
            Self::Sha256(h) => hex::encode(h.finalize()),
            Self::Sha512(h) => hex::encode(h.finalize()),
        };
        Digest { algorithm, hex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_sha256() {
        let d = Digest::sha256_of(b"hello");
        assert_eq!(d.to_string(), "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
    }

    #[test]
    fn rejects_malformed_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982",
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824/../x",
            "sha512:abcd",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn incremental_hash_matches_one_shot_and_verifies() {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"hel");
        let rollback = h.clone();
        h.update(b"lo");
        assert_eq!(h.finish(), Digest::sha256_of(b"hello"));
        let mut r = rollback;
        r.update(b"p!");
        assert_ne!(r.finish(), Digest::sha256_of(b"hello"));
    }

    #[test]
    fn sha512_round_trip() {
        let mut h = Hasher::new(Algorithm::Sha512);
        h.update(b"abc");
        let d = h.finish();
        assert!(d.to_string().starts_with("sha512:ddaf35a193617aba"));
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
    }
}

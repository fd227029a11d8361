//! The envelope: AES-256-GCM sealing with a random 96-bit nonce and associated data, 256-bit keys that wipe
//! themselves, and the text form sealed bytes take in records (`v1:` + base64 of nonce and ciphertext).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore as _;
use zeroize::{Zeroize, Zeroizing};

const NONCE_LEN: usize = 12;
const PREFIX: &str = "v1:";

/// A 256-bit AES key (master key, a KMS key's material or a data key); wiped from memory when dropped.
#[derive(Clone)]
pub struct Key256(Zeroizing<[u8; 32]>);

impl Key256 {
    /// A fresh random key.
    pub fn random() -> Self {
        let mut bytes = Zeroizing::new([0_u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    /// The key of exactly 32 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(array)))
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as base64 text (how a master key is written to its file or given in `BERTH_MASTER_KEY`).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }

    /// A key from base64 text (surrounding whitespace ignored); `None` unless it decodes to 32 bytes.
    pub fn from_base64(text: &str) -> Option<Self> {
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(text.trim().as_bytes()).ok()?;
        let key = Self::from_slice(&bytes);
        bytes.zeroize();
        key
    }

    /// Seals `plaintext` under this key, binding `aad`: the record's text form.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> String {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let cipher = Aes256Gcm::new(self.0.as_ref().into());
        // AES-GCM encryption fails only for inputs beyond 64 GiB; values here are at most a few KiB.
        let sealed = cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad }).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Opens what [`Key256::seal`] made with the same key and `aad`; `None` if the key, the associated data or
    /// the text is wrong (tampered, swapped between records, or sealed under another key).
    pub fn open(&self, aad: &[u8], sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
        let raw = base64::engine::general_purpose::STANDARD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new(self.0.as_ref().into());
        cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad }).ok().map(Zeroizing::new)
    }
}

impl std::fmt::Debug for Key256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key256(<redacted>)")
    }
}

/// A value sealed in an envelope: its own data key, wrapped by a KMS key, and the value sealed by that data key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// The ARN of the KMS key that wraps the data key.
    pub key_arn: String,
    /// The data key, sealed by the KMS key's material (associated data: the key ARN and the value's context).
    pub data_key: String,
    /// The value, sealed by the data key (associated data: the value's context, e.g. its record's ARN and version).
    pub value: String,
}

/// The associated data binding a data key to its KMS key and its value's context.
pub(crate) fn data_key_aad(key_arn: &str, context: &str) -> Vec<u8> {
    format!("berth:data-key\0{key_arn}\0{context}").into_bytes()
}

/// Seals `plaintext` in a new envelope under the KMS key `key_arn` whose material is `material`.
pub fn seal_envelope(material: &Key256, key_arn: &str, context: &str, plaintext: &[u8]) -> Envelope {
    let data_key = Key256::random();
    Envelope {
        key_arn: key_arn.to_string(),
        data_key: material.seal(&data_key_aad(key_arn, context), data_key.bytes()),
        value: data_key.seal(context.as_bytes(), plaintext),
    }
}

/// Opens an envelope with its KMS key's material, for the context it was sealed for; `None` if anything does not
/// match.
pub fn open_envelope(material: &Key256, envelope: &Envelope, context: &str) -> Option<Zeroizing<Vec<u8>>> {
    let data_key = material.open(&data_key_aad(&envelope.key_arn, context), &envelope.data_key)?;
    let data_key = Key256::from_slice(&data_key)?;
    data_key.open(context.as_bytes(), &envelope.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        let key = Key256::random();
        let sealed = key.seal(b"ctx", b"hunter2");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key.open(b"ctx", &sealed).unwrap().as_slice(), b"hunter2");
        // A fresh nonce every time.
        assert_ne!(key.seal(b"ctx", b"hunter2"), sealed);
    }

    #[test]
    fn wrong_key_aad_or_tampering_fail_cleanly() {
        let key = Key256::random();
        let sealed = key.seal(b"ctx", b"hunter2");
        assert!(Key256::random().open(b"ctx", &sealed).is_none());
        assert!(key.open(b"other", &sealed).is_none());
        let mut raw = base64::engine::general_purpose::STANDARD.decode(&sealed[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("v1:{}", base64::engine::general_purpose::STANDARD.encode(raw));
        assert!(key.open(b"ctx", &tampered).is_none());
        assert!(key.open(b"ctx", "v1:AAAA").is_none());
        assert!(key.open(b"ctx", "garbage").is_none());
    }

    #[test]
    fn envelopes_bind_their_context() {
        let material = Key256::random();
        let a = seal_envelope(&material, "arn:k", "arn:s-1\0v1", b"one");
        let b = seal_envelope(&material, "arn:k", "arn:s-1\0v2", b"two");
        assert_eq!(open_envelope(&material, &a, "arn:s-1\0v1").unwrap().as_slice(), b"one");
        // Swapping the value (or the data key) of one record into another is detected.
        assert!(open_envelope(&material, &a, "arn:s-1\0v2").is_none());
        let swapped = Envelope { value: b.value.clone(), ..a.clone() };
        assert!(open_envelope(&material, &swapped, "arn:s-1\0v1").is_none());
        let swapped = Envelope { data_key: b.data_key.clone(), ..a.clone() };
        assert!(open_envelope(&material, &swapped, "arn:s-1\0v1").is_none());
        assert!(open_envelope(&Key256::random(), &a, "arn:s-1\0v1").is_none());
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes_only() {
        let key = Key256::random();
        let text = key.to_base64();
        assert_eq!(Key256::from_base64(&format!(" {}\n", text.as_str())).unwrap().bytes(), key.bytes());
        assert!(Key256::from_base64("c2hvcnQ=").is_none());
        assert!(Key256::from_base64("not base64").is_none());
        assert_eq!(format!("{key:?}"), "Key256(<redacted>)");
    }
}

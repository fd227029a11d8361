//! Reading a request body that is not yet authenticated: capped, hashed as it arrives, and counted against a
//! server-wide budget so that clients who cannot sign cannot make the server hold much memory.
//!
//! Requests reach this only after every check that needs no body has passed (a known access key, a fresh date, the
//! right scope, every `x-amz-*` header signed); the signature itself needs the body's hash. The first
//! [`FREE_PREFIX`] bytes of each body are read freely; bytes beyond that take room in an [`UnverifiedBudget`],
//! given back as soon as the signature is verified (or refused). When the budget is spent the request is answered
//! `ThrottlingException`, which the SDKs retry with backoff.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of each body read without taking from the budget.
pub const FREE_PREFIX: usize = 64 * 1024;
/// The budget's unit: room is taken in blocks of this many bytes.
const BLOCK: usize = 64 * 1024;
/// The default budget: bytes of not-yet-verified bodies (beyond each one's free prefix) held at once, server-wide.
pub const DEFAULT_UNVERIFIED_BYTES: usize = 256 * 1024 * 1024;

/// Room for the bodies of requests whose signatures are not verified yet.
#[derive(Clone)]
pub struct UnverifiedBudget {
    blocks: Arc<Semaphore>,
}

impl UnverifiedBudget {
    /// A budget of `bytes` (rounded up to whole 64 KiB blocks).
    pub fn new(bytes: usize) -> Self {
        Self { blocks: Arc::new(Semaphore::new(bytes.div_ceil(BLOCK))) }
    }

    /// Room left, in bytes.
    pub fn available(&self) -> usize {
        self.blocks.available_permits() * BLOCK
    }
}

/// A body read into memory with its SHA-256; holds its share of the budget until dropped.
pub struct HashedBody {
    /// The bytes.
    pub bytes: Bytes,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256_hex: String,
    _room: Option<OwnedSemaphorePermit>,
}

/// Reads and drops what is left of a refused request body: at most `max_bytes`, for at most `time`. A client that
/// is still sending its body when the error answer comes would otherwise see the connection closed under it and
/// never read the answer (nginx's lingering close does the same).
pub async fn discard(body: Body, max_bytes: usize, time: std::time::Duration) {
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    let _ = tokio::time::timeout(time, async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen = seen.saturating_add(chunk.len());
            if seen > max_bytes {
                break;
            }
        }
    })
    .await;
}

/// Reads a body of at most `limit` bytes, hashing it as it arrives and taking room from `budget` for what exceeds
/// [`FREE_PREFIX`]. Refuses a body over `limit` (400 `InvalidParameterException`) and one the budget has no room
/// for (400 `ThrottlingException`), without reading further.
pub async fn read_hashed(body: Body, limit: usize, budget: &UnverifiedBudget) -> Result<HashedBody, ApiError> {
    let mut stream = body.into_data_stream();
    let mut hasher = Sha256::new();
    let mut buffer = Vec::new();
    let mut room: Option<OwnedSemaphorePermit> = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::serialization(format!("The request body could not be read: {e}")))?;
        let total = buffer.len().saturating_add(chunk.len());
        if total > limit {
            return Err(ApiError::body_too_large(limit));
        }
        let blocks_needed = total.saturating_sub(FREE_PREFIX).div_ceil(BLOCK);
        let held = room.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
        if blocks_needed > held {
            let more = u32::try_from(blocks_needed - held).map_err(|_| ApiError::body_too_large(limit))?;
            let permit = budget.blocks.clone().try_acquire_many_owned(more).map_err(|_| {
                tracing::warn!("unverified request bodies hold the whole budget; throttling");
                ApiError::throttled()
            })?;
            match room.as_mut() {
                Some(held) => held.merge(permit),
                None => room = Some(permit),
            }
        }
        hasher.update(&chunk);
        buffer.extend_from_slice(&chunk);
    }
    Ok(HashedBody { bytes: Bytes::from(buffer), sha256_hex: hex::encode(hasher.finalize()), _room: room })
}

impl HashedBody {
    /// Gives the budget back (the signature is verified, or the request is over) and keeps the bytes.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(len: usize) -> Body {
        Body::from(vec![b'x'; len])
    }

    #[tokio::test]
    async fn hashes_and_caps_and_spends_only_beyond_the_free_prefix() {
        let budget = UnverifiedBudget::new(1024 * 1024);
        let small = read_hashed(Body::from("{}"), 1000, &budget).await.unwrap();
        assert_eq!(small.sha256_hex, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert_eq!(budget.available(), 1024 * 1024);
        let big = read_hashed(body(FREE_PREFIX + 100_000), 10 << 20, &budget).await.unwrap();
        assert_eq!(budget.available(), 1024 * 1024 - 2 * BLOCK, "100,000 bytes past the prefix take two blocks");
        drop(big.into_bytes());
        assert_eq!(budget.available(), 1024 * 1024);
        let err = read_hashed(body(2000), 1000, &budget).await.err().unwrap();
        assert_eq!(err.code, "InvalidParameterException");
    }

    #[tokio::test]
    async fn a_spent_budget_throttles() {
        let budget = UnverifiedBudget::new(4 * BLOCK);
        let held = read_hashed(body(FREE_PREFIX + 3 * BLOCK), 10 << 20, &budget).await.unwrap();
        let err = read_hashed(body(FREE_PREFIX + 2 * BLOCK), 10 << 20, &budget).await.err().unwrap();
        assert_eq!((err.code.as_str(), err.message.as_str()), ("ThrottlingException", "Rate exceeded"));
        assert_eq!(budget.available(), BLOCK, "a refused request gives back what it took");
        drop(held);
        read_hashed(body(FREE_PREFIX + 2 * BLOCK), 10 << 20, &budget).await.unwrap();
    }
}

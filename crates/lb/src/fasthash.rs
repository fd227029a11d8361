//! A fast hash for the maps looked up on every request (listeners by address, target groups by id, pooled
//! connections by target): FxHash, a multiply and a rotation per word, where SipHash cost several hundred
//! instructions per lookup. Their keys come from the configuration, not from clients, so flooding is no concern.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map with [`FxHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// FxHash (rustc's hasher).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn maps_find_their_keys() {
        let mut m: FastMap<SocketAddr, u16> = FastMap::default();
        for port in 1..500u16 {
            m.insert(SocketAddr::from(([10, 0, 0, (port % 7) as u8], port)), port);
        }
        for port in 1..500u16 {
            assert_eq!(m.get(&SocketAddr::from(([10, 0, 0, (port % 7) as u8], port))), Some(&port));
        }
        let mut s: FastMap<String, ()> = FastMap::default();
        s.insert("tg-1".into(), ());
        assert!(s.contains_key("tg-1") && !s.contains_key("tg-2"));
    }
}

//! Test helpers: a history builder and a small seeded random number generator (std only).

use crate::history::{History, Operation};

/// Builds a history operation by operation, numbering them in order.
pub(crate) struct Builder<I, O> {
    ops: Vec<Operation<I, O>>,
}

impl<I: Clone, O: Clone> Builder<I, O> {
    pub(crate) fn new() -> Self {
        Self { ops: Vec::new() }
    }

    /// An operation of `client` called at `call` that returned `output` at `ret`.
    pub(crate) fn ok(&mut self, client: u64, call: u64, ret: u64, input: I, output: O) -> &mut Self {
        let id = self.ops.len() as u64;
        self.ops.push(Operation::completed(id, client, call, ret, input, output));
        self
    }

    /// An operation of `client` called at `call` that never returned.
    pub(crate) fn pending(&mut self, client: u64, call: u64, input: I) -> &mut Self {
        let id = self.ops.len() as u64;
        self.ops.push(Operation::pending(id, client, call, input));
        self
    }

    pub(crate) fn build(&self) -> History<I, O> {
        History::new(self.ops.clone())
    }
}

/// SplitMix64: enough randomness for generated histories, reproducible from its seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Call and return times around a linearization point `at`, jittered by up to `jitter` either side (never before 0).
pub(crate) fn window(rng: &mut Rng, at: u64, jitter: u64) -> (u64, u64) {
    (at.saturating_sub(rng.below(jitter + 1)), at + rng.below(jitter + 1))
}

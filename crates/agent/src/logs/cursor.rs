//! Where a container's log shipping stands: a [`Checkpoint`] is a position in the container's json-file log (a
//! file, by inode, and the byte offset after the last delivered entry; see [`super::tail`]), and [`Positions`]
//! numbers the entries read so that "delivered up to entry N" turns into the checkpoint after entry N.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A resumable position in a container's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The log file, by inode (0: none yet, start at the oldest file).
    pub file: u64,
    /// The byte offset in it after the last delivered entry.
    pub offset: u64,
    /// Whether the container had stopped and everything it wrote was delivered.
    #[serde(default)]
    pub finished: bool,
}

/// The positions of the entries read and not yet delivered, by entry number.
#[derive(Debug, Default)]
pub struct Positions {
    next: u64,
    pending: VecDeque<(u64, Checkpoint)>,
}

impl Positions {
    /// Numbers the next entry read, whose end is at `position`.
    pub fn read(&mut self, position: Checkpoint) -> u64 {
        let index = self.next;
        self.next += 1;
        self.pending.push_back((index, position));
        index
    }

    /// The checkpoint once every entry up to and including `index` is delivered (`None` when those were
    /// accounted for already).
    pub fn delivered(&mut self, index: u64) -> Option<Checkpoint> {
        let mut last = None;
        while let Some((n, position)) = self.pending.front().copied() {
            if n > index {
                break;
            }
            last = Some(position);
            self.pending.pop_front();
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> Checkpoint {
        Checkpoint { file: 7, offset, finished: false }
    }

    #[test]
    fn a_delivery_gives_the_position_after_its_last_entry() {
        let mut p = Positions::default();
        let indices: Vec<u64> = [10, 20, 30, 40].into_iter().map(|o| p.read(at(o))).collect();
        assert_eq!(indices, [0, 1, 2, 3]);
        assert_eq!(p.delivered(1), Some(at(20)));
        assert_eq!(p.delivered(1), None, "already accounted for");
        assert_eq!(p.delivered(3), Some(at(40)));
        assert!(p.pending.is_empty());
    }
}

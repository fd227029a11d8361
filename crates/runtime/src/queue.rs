//! The per-key deduplicating work queue: which keys are ready, running, or due later.
//!
//! Rules: a key is in at most one of ready / running; triggering a ready key changes nothing; triggering a running
//! key makes it run once more after it finishes; a ready run supersedes a later timer. A key that is backing off
//! after a failure absorbs triggers into its pending retry (the retry sees the newest state anyway), so a busy
//! watch cannot defeat the backoff.

use crate::{Backoff, Trigger};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

/// One key's bookkeeping.
#[derive(Debug, Default)]
struct Slot {
    /// In the ready queue, with the trigger that put it there.
    queued: Option<Trigger>,
    /// A reconcile runs now.
    running: bool,
    /// Triggered while running: run once more afterwards.
    rerun: Option<Trigger>,
    /// Due later: the timer's (due millis, sequence) and its trigger.
    timer: Option<((u64, u64), Trigger)>,
    /// Consecutive failures (0 after a success).
    failures: u32,
    /// The smallest source revision the next reconcile must see.
    min_revision: i64,
}

impl Slot {
    fn idle(&self) -> bool {
        self.queued.is_none() && !self.running && self.timer.is_none() && self.failures == 0
    }
}

/// A key taken off the queue to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Work<K> {
    /// The key.
    pub key: K,
    /// Why it runs.
    pub trigger: Trigger,
    /// The source revision the reconcile must see first.
    pub min_revision: i64,
}

/// Keys that are ready, running, or scheduled; times in milliseconds of the controller's clock.
#[derive(Debug)]
pub struct WorkQueue<K> {
    slots: HashMap<K, Slot>,
    ready: VecDeque<K>,
    timers: BTreeMap<(u64, u64), K>,
    sequence: u64,
}

impl<K> Default for WorkQueue<K> {
    fn default() -> Self {
        Self { slots: HashMap::new(), ready: VecDeque::new(), timers: BTreeMap::new(), sequence: 0 }
    }
}

impl<K: Clone + Eq + Hash> WorkQueue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `key` as needing a reconcile that sees at least `min_revision`. Returns whether it became ready now.
    pub fn trigger(&mut self, key: K, trigger: Trigger, min_revision: i64) -> bool {
        let slot = self.slots.entry(key.clone()).or_default();
        slot.min_revision = slot.min_revision.max(min_revision);
        if slot.running {
            if slot.rerun.is_none() {
                slot.rerun = Some(trigger);
            }
            return false;
        }
        if slot.queued.is_some() || (slot.failures > 0 && slot.timer.is_some()) {
            return false;
        }
        if let Some((at, _)) = slot.timer.take() {
            self.timers.remove(&at);
        }
        slot.queued = Some(trigger);
        self.ready.push_back(key);
        true
    }

    /// Takes the next ready key and marks it running.
    pub fn pop(&mut self) -> Option<Work<K>> {
        while let Some(key) = self.ready.pop_front() {
            let Some(slot) = self.slots.get_mut(&key) else { continue };
            let Some(trigger) = slot.queued.take() else { continue };
            slot.running = true;
            return Some(Work { key, trigger, min_revision: slot.min_revision });
        }
        None
    }

    /// Records a successful reconcile of a running key: it runs again now if it was triggered meanwhile, else at
    /// `requeue_at` (millis) if given.
    pub fn succeeded(&mut self, key: &K, requeue_at: Option<u64>) {
        let Some(slot) = self.slots.get_mut(key) else { return };
        slot.running = false;
        slot.failures = 0;
        if let Some(trigger) = slot.rerun.take() {
            let min = slot.min_revision;
            self.trigger(key.clone(), trigger, min);
        } else if let Some(at) = requeue_at {
            self.set_timer(key, at, Trigger::Requeue);
        }
        self.forget_if_idle(key);
    }

    /// Records a failed (or panicked) reconcile of a running key: it is retried after the backoff for its
    /// consecutive failures, and triggers meanwhile are folded into that retry. Returns (failures, delay seconds).
    pub fn failed(&mut self, key: &K, now_millis: u64, backoff: &Backoff) -> (u32, f64) {
        let Some(slot) = self.slots.get_mut(key) else { return (0, 0.0) };
        slot.running = false;
        slot.rerun = None;
        slot.failures = slot.failures.saturating_add(1);
        let failures = slot.failures;
        let delay = backoff.delay(failures);
        let at = now_millis.saturating_add((delay * 1000.0).round() as u64);
        self.set_timer(key, at, Trigger::Retry { failures });
        (failures, delay)
    }

    /// Moves every key whose timer is due at `now_millis` to the ready queue. Returns how many.
    pub fn fire_due(&mut self, now_millis: u64) -> usize {
        let mut fired = 0;
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now_millis {
                break;
            }
            let key = entry.remove();
            let Some(slot) = self.slots.get_mut(&key) else { continue };
            let Some((_, trigger)) = slot.timer.take() else { continue };
            slot.queued = Some(trigger);
            self.ready.push_back(key);
            fired += 1;
        }
        fired
    }

    /// When the earliest timer is due (millis).
    pub fn next_due(&self) -> Option<u64> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Whether a key is ready to run.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The consecutive failures of a key.
    pub fn failures(&self, key: &K) -> u32 {
        self.slots.get(key).map_or(0, |s| s.failures)
    }

    fn set_timer(&mut self, key: &K, at: u64, trigger: Trigger) {
        let Some(slot) = self.slots.get_mut(key) else { return };
        if let Some((old, _)) = slot.timer {
            if old.0 <= at {
                return; // an earlier timer already covers it
            }
            self.timers.remove(&old);
        }
        self.sequence += 1;
        let id = (at, self.sequence);
        slot.timer = Some((id, trigger));
        self.timers.insert(id, key.clone());
    }

    fn forget_if_idle(&mut self, key: &K) {
        if self.slots.get(key).is_some_and(Slot::idle) {
            self.slots.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGE: Trigger = Trigger::Change { revision: 1 };

    #[test]
    fn a_ready_key_is_queued_once() {
        let mut q = WorkQueue::new();
        assert!(q.trigger("a", CHANGE, 1));
        assert!(!q.trigger("a", Trigger::Requeue, 2), "already ready");
        assert!(q.trigger("b", CHANGE, 1));
        let first = q.pop().unwrap();
        assert_eq!((first.key, first.trigger, first.min_revision), ("a", CHANGE, 2));
        assert_eq!(q.pop().unwrap().key, "b");
        assert!(q.pop().is_none());
    }

    #[test]
    fn a_key_triggered_while_running_runs_once_more_after() {
        let mut q = WorkQueue::new();
        q.trigger("a", CHANGE, 1);
        q.pop().unwrap();
        assert!(!q.trigger("a", Trigger::Change { revision: 2 }, 2));
        assert!(!q.trigger("a", Trigger::Change { revision: 3 }, 3));
        assert!(q.pop().is_none(), "never two runs of one key at once");
        q.succeeded(&"a", Some(99_000));
        let again = q.pop().unwrap();
        assert_eq!((again.trigger, again.min_revision), (Trigger::Change { revision: 2 }, 3));
        assert_eq!(q.next_due(), None, "the rerun replaces the requeue timer");
        q.succeeded(&"a", None);
        assert!(q.pop().is_none());
        assert!(q.slots.is_empty(), "an idle key is forgotten");
    }

    #[test]
    fn timers_fire_when_due_and_a_trigger_supersedes_them() {
        let mut q = WorkQueue::new();
        q.trigger("a", CHANGE, 1);
        q.pop().unwrap();
        q.succeeded(&"a", Some(5_000));
        assert_eq!(q.next_due(), Some(5_000));
        assert_eq!(q.fire_due(4_999), 0);
        assert_eq!(q.fire_due(5_000), 1);
        assert_eq!(q.pop().unwrap().trigger, Trigger::Requeue);
        q.succeeded(&"a", Some(9_000));
        assert!(q.trigger("a", CHANGE, 1), "a change runs now rather than at the timer");
        assert_eq!(q.next_due(), None);
    }

    #[test]
    fn failures_back_off_and_absorb_triggers() {
        let mut q = WorkQueue::new();
        let backoff = Backoff { initial: 1.0, max: 4.0 };
        q.trigger("a", CHANGE, 1);
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..5 {
            q.pop().unwrap();
            let (_, delay) = q.failed(&"a", now, &backoff);
            delays.push(delay);
            assert!(!q.trigger("a", CHANGE, 1), "a change does not bypass the backoff");
            now = q.next_due().unwrap();
            assert_eq!(q.fire_due(now - 1), 0);
            assert_eq!(q.fire_due(now), 1);
        }
        assert_eq!(delays, [1.0, 2.0, 4.0, 4.0, 4.0]);
        assert_eq!(q.pop().unwrap().trigger, Trigger::Retry { failures: 5 });
        q.succeeded(&"a", None);
        assert_eq!(q.failures(&"a"), 0, "a success resets the count");
    }
}

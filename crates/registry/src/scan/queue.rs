//! The scan queue: at most `max_concurrent` scans run, and at most `max_queued` wait or run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bounds how many scans wait and run.
#[derive(Debug)]
pub struct ScanQueue {
    running: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    max_queued: usize,
}

/// A place in the queue, given back when dropped.
#[derive(Debug)]
pub struct Ticket {
    queued: Arc<AtomicUsize>,
    running: Arc<Semaphore>,
}

impl ScanQueue {
    /// A queue running `max_concurrent` scans at once, with `max_queued` places in all.
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        ScanQueue {
            running: Arc::new(Semaphore::new(max_concurrent.max(1))),
            queued: Arc::new(AtomicUsize::new(0)),
            max_queued: max_queued.max(1),
        }
    }

    /// A place in the queue, or `None` when it is full.
    pub fn enter(&self) -> Option<Ticket> {
        let mut current = self.queued.load(Ordering::Acquire);
        loop {
            if current >= self.max_queued {
                return None;
            }
            match self.queued.compare_exchange(current, current + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(Ticket { queued: self.queued.clone(), running: self.running.clone() }),
                Err(now) => current = now,
            }
        }
    }

    /// Scans waiting or running.
    pub fn len(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether no scan waits or runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most scans that may wait or run.
    pub fn capacity(&self) -> usize {
        self.max_queued
    }
}

impl Ticket {
    /// Waits for a turn to run.
    pub async fn run(&self) -> Option<OwnedSemaphorePermit> {
        self.running.clone().acquire_owned().await.ok()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn places_are_bounded_and_given_back() {
        let q = ScanQueue::new(1, 2);
        let a = q.enter().unwrap();
        let b = q.enter().unwrap();
        assert!(q.enter().is_none());
        let running = a.run().await.unwrap();
        assert!(b.running.clone().try_acquire_owned().is_err(), "one scan at a time");
        drop(running);
        drop(a);
        assert_eq!(q.len(), 1);
        assert!(q.enter().is_some());
    }
}

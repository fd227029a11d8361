//! Events into PutLogEvents batches, with CloudWatch Logs' limits: at most 10,000 events and 1,048,576 bytes (each
//! event counts its message's UTF-8 bytes plus 26), events in time order and within 24 hours of each other; a batch
//! is sent when full or once its oldest event has waited the flush interval.

use super::events::Event;

/// The most events in one batch.
pub const MAX_EVENTS: usize = 10_000;
/// The most bytes in one batch (messages plus 26 bytes per event).
pub const MAX_BYTES: usize = 1_048_576;
/// The widest span of event times in one batch, in milliseconds.
pub const MAX_SPAN_MS: i64 = 24 * 3600 * 1000;

/// A batch ready to send: events in time order (stable for equal times, so lines keep their order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// The events.
    pub events: Vec<Event>,
}

impl Batch {
    /// The bytes CloudWatch Logs counts for the batch.
    pub fn bytes(&self) -> usize {
        self.events.iter().map(Event::batch_bytes).sum()
    }
}

/// Collects events into batches.
#[derive(Debug)]
pub struct Batcher {
    current: Vec<Event>,
    bytes: usize,
    /// When the oldest event of the current batch was added (milliseconds of the agent's clock).
    opened_at_ms: i64,
    flush_after_ms: i64,
}

impl Batcher {
    /// A batcher that sends a batch at the latest `flush_after` after its first event.
    pub fn new(flush_after: std::time::Duration) -> Self {
        let flush_after_ms = i64::try_from(flush_after.as_millis()).unwrap_or(i64::MAX);
        Self { current: Vec::new(), bytes: 0, opened_at_ms: 0, flush_after_ms }
    }

    /// Adds an event at `now_ms`; returns the batch it closed, if adding it would have broken a limit.
    pub fn push(&mut self, event: Event, now_ms: i64) -> Option<Batch> {
        let fits = self.current.len() < MAX_EVENTS
            && self.bytes + event.batch_bytes() <= MAX_BYTES
            && self.current.iter().all(|e| (e.timestamp_ms - event.timestamp_ms).abs() <= MAX_SPAN_MS);
        let closed = if fits || self.current.is_empty() { None } else { self.take() };
        if self.current.is_empty() {
            self.opened_at_ms = now_ms;
        }
        self.bytes += event.batch_bytes();
        self.current.push(event);
        closed
    }

    /// The current batch, if its first event has waited the flush interval by `now_ms`.
    pub fn flush_due(&mut self, now_ms: i64) -> Option<Batch> {
        if !self.current.is_empty() && now_ms - self.opened_at_ms >= self.flush_after_ms { self.take() } else { None }
    }

    /// The current batch, whatever its age (the container stopped, or the agent is shutting down).
    pub fn take(&mut self) -> Option<Batch> {
        if self.current.is_empty() {
            return None;
        }
        let mut events = std::mem::take(&mut self.current);
        self.bytes = 0;
        events.sort_by_key(|e| e.timestamp_ms);
        Some(Batch { events })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(ts: i64, size: usize) -> Event {
        Event { timestamp_ms: ts, message: "x".repeat(size) }
    }

    #[test]
    fn a_batch_closes_at_ten_thousand_events() {
        let mut b = Batcher::new(Duration::from_secs(5));
        for i in 0..MAX_EVENTS {
            assert!(b.push(event(i as i64, 1), 0).is_none());
        }
        let full = b.push(event(20_000, 1), 0).unwrap();
        assert_eq!(full.events.len(), MAX_EVENTS);
        assert_eq!(b.take().unwrap().events.len(), 1);
    }

    #[test]
    fn a_batch_closes_before_it_would_pass_the_byte_limit() {
        let mut b = Batcher::new(Duration::from_secs(5));
        let size = 100_000;
        let mut closed = None;
        for i in 0..20 {
            closed = closed.or(b.push(event(i, size), 0));
        }
        let first = closed.unwrap();
        assert!(first.bytes() <= MAX_BYTES);
        assert_eq!(first.events.len(), MAX_BYTES / (size + 26));
    }

    #[test]
    fn events_more_than_a_day_apart_go_in_separate_batches() {
        let mut b = Batcher::new(Duration::from_secs(5));
        assert!(b.push(event(0, 1), 0).is_none());
        let closed = b.push(event(MAX_SPAN_MS + 1, 1), 0).unwrap();
        assert_eq!(closed.events[0].timestamp_ms, 0);
    }

    #[test]
    fn a_batch_is_sent_once_its_first_event_waited_the_interval_and_keeps_line_order() {
        let mut b = Batcher::new(Duration::from_secs(5));
        b.push(Event { timestamp_ms: 10, message: "b".into() }, 1_000);
        b.push(Event { timestamp_ms: 5, message: "a".into() }, 2_000);
        b.push(Event { timestamp_ms: 10, message: "c".into() }, 3_000);
        assert!(b.flush_due(5_999).is_none());
        let batch = b.flush_due(6_000).unwrap();
        let order: Vec<&str> = batch.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(order, ["a", "b", "c"], "time order; equal times keep their order");
        assert!(b.flush_due(100_000).is_none());
    }
}

//! Events into PutLogEvents batches, with CloudWatch Logs' limits: at most 10,000 events and 1,048,576 bytes (each
//! event counts its message's UTF-8 bytes plus 26), events in time order and within 24 hours of each other. The
//! shipper keeps its events in a queue and takes a batch from its front when the queue holds a full one, when the
//! oldest event has waited the flush interval, or when the container has stopped.

use super::events::Event;
use std::collections::VecDeque;

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

    /// The last log entry the batch completes (see [`Event::end`]), if it completes any line.
    pub fn end(&self) -> Option<u64> {
        self.events.iter().filter_map(|e| e.end).max()
    }
}

/// Whether a queue of `count` events of `bytes` (as CloudWatch Logs counts them) holds at least a full batch.
pub fn holds_full_batch(count: usize, bytes: usize) -> bool {
    count >= MAX_EVENTS || bytes >= MAX_BYTES
}

/// Takes the next batch from the front of `queue`: the longest run of events that keeps within the limits (at
/// least one event: a single event is never over them), sorted by time.
pub fn take_batch(queue: &mut VecDeque<Event>) -> Batch {
    let mut events: Vec<Event> = Vec::new();
    let mut bytes = 0;
    let (mut earliest, mut latest) = (i64::MAX, i64::MIN);
    while let Some(next) = queue.front() {
        let fits = events.len() < MAX_EVENTS
            && bytes + next.batch_bytes() <= MAX_BYTES
            && next.timestamp_ms.max(latest).saturating_sub(next.timestamp_ms.min(earliest)) <= MAX_SPAN_MS;
        if !fits && !events.is_empty() {
            break;
        }
        let Some(event) = queue.pop_front() else { break };
        bytes += event.batch_bytes();
        earliest = earliest.min(event.timestamp_ms);
        latest = latest.max(event.timestamp_ms);
        events.push(event);
    }
    events.sort_by_key(|e| e.timestamp_ms);
    Batch { events }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ts: i64, size: usize) -> Event {
        Event { timestamp_ms: ts, message: "x".repeat(size), ..Default::default() }
    }

    #[test]
    fn a_batch_holds_at_most_ten_thousand_events() {
        let mut queue: VecDeque<Event> = (0..MAX_EVENTS as i64 + 1).map(|i| event(i, 1)).collect();
        assert!(holds_full_batch(queue.len(), 0));
        assert_eq!(take_batch(&mut queue).events.len(), MAX_EVENTS);
        assert_eq!(take_batch(&mut queue).events.len(), 1);
        assert!(take_batch(&mut queue).events.is_empty());
    }

    #[test]
    fn a_batch_stops_before_it_would_pass_the_byte_limit() {
        let size = 100_000;
        let mut queue: VecDeque<Event> = (0..20).map(|i| event(i, size)).collect();
        let first = take_batch(&mut queue);
        assert!(first.bytes() <= MAX_BYTES);
        assert_eq!(first.events.len(), MAX_BYTES / (size + 26));
    }

    #[test]
    fn events_more_than_a_day_apart_go_in_separate_batches() {
        let mut queue: VecDeque<Event> = [event(MAX_SPAN_MS + 1, 1), event(0, 1)].into_iter().collect();
        assert_eq!(take_batch(&mut queue).events.len(), 1);
        assert_eq!(take_batch(&mut queue).events[0].timestamp_ms, 0);
    }

    #[test]
    fn a_batch_is_in_time_order_and_equal_times_keep_their_order() {
        let mut queue: VecDeque<Event> = [
            Event { timestamp_ms: 10, message: "b".into(), end: Some(1), ..Default::default() },
            Event { timestamp_ms: 5, message: "a".into(), end: Some(2), ..Default::default() },
            Event { timestamp_ms: 10, message: "c".into(), end: None, ..Default::default() },
        ]
        .into_iter()
        .collect();
        let batch = take_batch(&mut queue);
        let order: Vec<&str> = batch.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(batch.end(), Some(2));
    }
}

//! PutLogEvents and the append path shippers call in-process.

use crate::names::{check_group, check_stream};
use crate::{AppendOutcome, Logs, LogsError};
use berth_model::logs::{InputLogEvent, PutLogEventsRequest, PutLogEventsResponse, RejectedLogEventsInfo};
use serde_json::Value;
use std::sync::Arc;

/// At most this many events in a batch.
pub const MAX_EVENTS: usize = 10_000;
/// At most this many bytes in a batch: messages in UTF-8 plus 26 bytes an event.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// Bytes counted for each event on top of its message.
pub const EVENT_OVERHEAD: usize = 26;
/// Events more than this far ahead of now are refused (milliseconds).
pub const MAX_AHEAD_MILLIS: i64 = 2 * 3_600_000;
/// Events older than this are refused (milliseconds).
pub const MAX_AGE_MILLIS: i64 = 14 * 86_400_000;
/// The accepted events of a batch may span at most this long (milliseconds).
pub const MAX_SPAN_MILLIS: i64 = 24 * 3_600_000;

/// PutLogEvents; a Berth extension member `berthBatchId` makes a retried batch idempotent.
pub(super) async fn put_log_events(
    logs: &Logs,
    req: PutLogEventsRequest,
    batch_id: Option<String>,
) -> Result<PutLogEventsResponse, LogsError> {
    let _ignored = req.sequence_token; // accepted and ignored, as AWS does now
    let outcome = append(logs, &req.log_group_name, &req.log_stream_name, req.log_events, batch_id).await?;
    Ok(PutLogEventsResponse {
        next_sequence_token: Some(format!("{:056}", logs.now_millis())),
        rejected_log_events_info: outcome.rejected,
        rejected_entity_info: None,
    })
}

/// The batch id of a raw PutLogEvents body (`berthBatchId`), if it has one.
pub(crate) fn batch_id_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("berthBatchId")?.as_str().map(str::to_string)
}

/// Checks a batch and finds the events to refuse for their timestamps. Returns the indices `[from, to)` of the
/// events to store and what was refused.
pub fn check_batch(
    events: &[InputLogEvent],
    now_millis: i64,
    retention_cutoff: Option<i64>,
) -> Result<(usize, usize, Option<RejectedLogEventsInfo>), LogsError> {
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length \
             between 1 and {MAX_EVENTS}"
        )));
    }
    let mut bytes = 0;
    for (i, e) in events.iter().enumerate() {
        if e.message.is_empty() {
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '' at 'logEvents.{}.member.message' failed to satisfy \
                 constraint: Member must have length greater than or equal to 1",
                i + 1
            )));
        }
        bytes += e.message.len() + EVENT_OVERHEAD;
    }
    if bytes > MAX_BATCH_BYTES {
        return Err(LogsError::invalid(format!("Upload too large: {bytes} bytes exceeds limit of {MAX_BATCH_BYTES}")));
    }
    if events.windows(2).any(|w| w[1].timestamp < w[0].timestamp) {
        return Err(LogsError::invalid("Log events in a single PutLogEvents request must be in chronological order."));
    }
    let too_old = events.partition_point(|e| e.timestamp < now_millis - MAX_AGE_MILLIS);
    let expired = retention_cutoff.map_or(0, |c| events.partition_point(|e| e.timestamp < c));
    let from = too_old.max(expired);
    let to = events.partition_point(|e| e.timestamp <= now_millis + MAX_AHEAD_MILLIS).max(from);
    if to > from && events[to - 1].timestamp - events[from].timestamp > MAX_SPAN_MILLIS {
        return Err(LogsError::invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    let rejected = (from > 0 || to < events.len()).then(|| RejectedLogEventsInfo {
        too_new_log_event_start_index: (to < events.len()).then_some(to as i32),
        too_old_log_event_end_index: (too_old > 0).then_some(too_old as i32),
        expired_log_event_end_index: (expired > 0).then_some(expired as i32),
    });
    Ok((from, to, rejected))
}

/// See [`Logs::append`].
pub(crate) async fn append(
    logs: &Logs,
    group: &str,
    stream: &str,
    events: Vec<InputLogEvent>,
    batch_id: Option<String>,
) -> Result<AppendOutcome, LogsError> {
    check_group(group)?;
    check_stream(stream)?;
    let now = logs.now_millis();
    let (record, _) = logs.meta.group(group).await?;
    logs.meta.stream(group, stream).await?;
    let (from, to, rejected) = check_batch(&events, now, record.cutoff(now))?;
    let accepted: Vec<(i64, String)> =
        events.into_iter().skip(from).take(to - from).map(|e| (e.timestamp, e.message)).collect();
    let stored = accepted.len();
    let stream = stream.to_string();
    let sink = logs.metric_sink();
    let filters = match &sink {
        Some(_) if stored > 0 => logs.meta.metric_filters(Some(group)).await?,
        _ => Vec::new(),
    };
    let accepted = Arc::new(accepted);
    let events = accepted.clone();
    let written =
        logs.blocking(move |store| store.append(&record.dir, &stream, &events, now, batch_id.as_deref())).await??;
    if let Some(sink) = sink.filter(|_| written && !filters.is_empty()) {
        // Matching runs off the async threads: a batch holds up to 10,000 events.
        let points = logs.blocking(move |_| crate::metric_filters::apply_batch(&filters, &accepted)).await?;
        if !points.is_empty() {
            sink.put(&points);
        }
    }
    Ok(AppendOutcome { rejected, stored: if written { stored } else { 0 }, duplicate: !written })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(timestamps: &[i64]) -> Vec<InputLogEvent> {
        timestamps.iter().map(|t| InputLogEvent { timestamp: *t, message: "m".into() }).collect()
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn a_valid_batch_is_accepted_whole() {
        assert_eq!(check_batch(&events(&[NOW - 10, NOW]), NOW, None).unwrap(), (0, 2, None));
    }

    #[test]
    fn too_old_expired_and_too_new_events_are_reported_by_index() {
        let batch = events(&[NOW - 15 * 86_400_000, NOW - 2 * 86_400_000 - 5, NOW - 1000, NOW + 3 * 3_600_000]);
        let (from, to, rejected) = check_batch(&batch, NOW, Some(NOW - 86_400_000)).unwrap();
        assert_eq!((from, to), (2, 3));
        let rejected = rejected.unwrap();
        assert_eq!(rejected.too_old_log_event_end_index, Some(1));
        assert_eq!(rejected.expired_log_event_end_index, Some(2));
        assert_eq!(rejected.too_new_log_event_start_index, Some(3));
    }

    #[test]
    fn bad_batches_are_refused() {
        assert!(check_batch(&[], NOW, None).is_err());
        assert!(check_batch(&events(&[NOW, NOW - 1]), NOW, None).is_err(), "out of order");
        assert!(check_batch(&events(&[NOW - 25 * 3_600_000, NOW]), NOW, None).is_err(), "spans over 24 h");
        let big = vec![InputLogEvent { timestamp: NOW, message: "x".repeat(600_000) }; 2];
        assert!(check_batch(&big, NOW, None).is_err(), "over 1 MiB");
        assert!(check_batch(&[InputLogEvent { timestamp: NOW, message: String::new() }], NOW, None).is_err());
    }
}

//! GetLogEvents and FilterLogEvents.

use super::limit;
use crate::events::{FilterQuery, LogEvent, Range};
use crate::names::{self, check_stream};
use crate::pattern::Pattern;
use crate::{Logs, LogsError, tokens};
use berth_model::logs::{
    FilterLogEventsRequest, FilterLogEventsResponse, FilteredLogEvent, GetLogEventsRequest, GetLogEventsResponse,
    OutputLogEvent, SearchedLogStream,
};
use std::collections::BTreeSet;

/// A response carries at most this many bytes of events (messages plus 26 bytes each).
const MAX_RESPONSE_BYTES: usize = 1_048_576;

/// The later of a request's start time and the retention cutoff.
fn start_of(start: Option<i64>, cutoff: Option<i64>) -> Option<i64> {
    match (start, cutoff) {
        (Some(s), Some(c)) => Some(s.max(c)),
        (s, c) => s.or(c),
    }
}

pub(super) async fn get_log_events(logs: &Logs, req: GetLogEventsRequest) -> Result<GetLogEventsResponse, LogsError> {
    let group_name = names::group_of(req.log_group_name.as_deref(), req.log_group_identifier.as_deref())?;
    check_stream(&req.log_stream_name)?;
    let limit = limit(req.limit, 10_000)?;
    let (group, _) = logs.meta.group(&group_name).await?;
    logs.meta.stream(&group_name, &req.log_stream_name).await?;
    let mut range = Range {
        start: start_of(req.start_time, group.cutoff(logs.now_millis())),
        end: req.end_time,
        ..Range::default()
    };
    let from_head = match req.next_token.as_deref() {
        None => req.start_from_head.unwrap_or(false),
        Some(token) => match tokens::parse_position(token)? {
            ('f', pos) => {
                range.after = Some(pos);
                true
            }
            ('b', pos) => {
                range.before = Some(pos);
                false
            }
            _ => return Err(LogsError::invalid(format!("The specified nextToken is invalid: {token}"))),
        },
    };
    let stream = req.log_stream_name.clone();
    let dir = group.dir.clone();
    let mut events = logs.blocking(move |store| store.read_stream(&dir, &stream, range, limit, from_head)).await??;
    cap_bytes(&mut events, from_head);
    let (forward, backward) = match (events.first(), events.last()) {
        (Some(first), Some(last)) => (tokens::position('f', last.position()), tokens::position('b', first.position())),
        _ => match &req.next_token {
            Some(token) => (token.clone(), token.clone()),
            None => (tokens::position('f', (i64::MIN, 0)), tokens::position('b', (i64::MAX, u64::MAX))),
        },
    };
    Ok(GetLogEventsResponse {
        events: Some(
            events
                .into_iter()
                .map(|e| OutputLogEvent {
                    timestamp: Some(e.timestamp),
                    message: Some(e.message),
                    ingestion_time: Some(e.ingestion_time),
                })
                .collect(),
        ),
        next_forward_token: Some(forward),
        next_backward_token: Some(backward),
    })
}

/// Keeps at most [`MAX_RESPONSE_BYTES`] of events: the first ones reading forward, the last ones backward.
fn cap_bytes(events: &mut Vec<LogEvent>, from_head: bool) {
    let mut total = 0;
    let fits = |e: &LogEvent, total: &mut usize| {
        *total += e.message.len() + 26;
        *total <= MAX_RESPONSE_BYTES
    };
    if from_head {
        let keep = events.iter().take_while(|e| fits(e, &mut total)).count().max(1);
        events.truncate(keep);
    } else {
        let keep = events.iter().rev().take_while(|e| fits(e, &mut total)).count().max(1);
        let drop = events.len().saturating_sub(keep);
        events.drain(..drop);
    }
}

pub(super) async fn filter_log_events(
    logs: &Logs,
    req: FilterLogEventsRequest,
) -> Result<FilterLogEventsResponse, LogsError> {
    let group_name = names::group_of(req.log_group_name.as_deref(), req.log_group_identifier.as_deref())?;
    let limit = limit(req.limit, 10_000)?;
    if req.log_stream_names.is_some() && req.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid("You cannot specify both LogStreamNames and LogStreamNamePrefix."));
    }
    if let Some(names) = &req.log_stream_names
        && !(1..=100).contains(&names.len())
    {
        return Err(LogsError::invalid("logStreamNames must name between 1 and 100 log streams."));
    }
    let pattern = Pattern::parse(req.filter_pattern.as_deref().unwrap_or_default())
        .map_err(|e| LogsError::invalid(e.to_string()))?;
    let (group, _) = logs.meta.group(&group_name).await?;
    let mut range = Range {
        start: start_of(req.start_time, group.cutoff(logs.now_millis())),
        // FilterLogEvents' endTime is inclusive ("later than this time are not returned"); GetLogEvents' is not.
        end: req.end_time.map(|t| t.saturating_add(1)),
        ..Range::default()
    };
    if let Some(token) = req.next_token.as_deref() {
        match tokens::parse_position(token)? {
            ('e', pos) => range.after = Some(pos),
            _ => return Err(LogsError::invalid(format!("The specified nextToken is invalid: {token}"))),
        }
    }
    let names: Option<BTreeSet<String>> = req.log_stream_names.map(|n| n.into_iter().collect());
    let prefix = req.log_stream_name_prefix;
    let searched: Vec<String> = logs
        .meta
        .streams(&group_name)
        .await?
        .into_iter()
        .map(|s| s.name)
        .filter(|n| names.as_ref().is_none_or(|w| w.contains(n)))
        .filter(|n| prefix.as_deref().is_none_or(|p| n.starts_with(p)))
        .collect();
    let wanted: BTreeSet<String> = searched.iter().cloned().collect();
    let dir = group.dir.clone();
    let (events, resume) = logs
        .blocking(move |store| {
            let query = FilterQuery {
                wanted: &|s| wanted.contains(s),
                range,
                keep: &|m| pattern.matches(m),
                literal: pattern.required_literal().map(str::as_bytes),
                limit,
                max_bytes: MAX_RESPONSE_BYTES,
            };
            store.filter(&dir, &query)
        })
        .await??;
    Ok(FilterLogEventsResponse {
        events: Some(
            events
                .into_iter()
                .map(|e| FilteredLogEvent {
                    event_id: Some(format!("{:056}", e.seq)),
                    log_stream_name: Some(e.stream),
                    timestamp: Some(e.timestamp),
                    message: Some(e.message),
                    ingestion_time: Some(e.ingestion_time),
                })
                .collect(),
        ),
        searched_log_streams: Some(
            searched
                .into_iter()
                .map(|n| SearchedLogStream { log_stream_name: Some(n), searched_completely: Some(resume.is_none()) })
                .collect(),
        ),
        next_token: resume.map(|pos| tokens::position('e', pos)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, size: usize) -> LogEvent {
        LogEvent { stream: "s".into(), timestamp: 0, ingestion_time: 0, seq, message: "x".repeat(size) }
    }

    #[test]
    fn responses_keep_at_most_a_mebibyte_from_the_reading_end() {
        let big = || (0..3).map(|i| event(i, 400_000)).collect::<Vec<_>>();
        let mut forward = big();
        cap_bytes(&mut forward, true);
        assert_eq!(forward.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1]);
        let mut backward = big();
        cap_bytes(&mut backward, false);
        assert_eq!(backward.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        let mut one = vec![event(0, 2_000_000)];
        cap_bytes(&mut one, true);
        assert_eq!(one.len(), 1, "one event always comes back");
    }
}

//! Reading the streams with FilterLogEvents: one paged query per log group (at most 100 streams each, the API's
//! limit), merged by timestamp across groups, and the event ids already printed when following.

use super::super::aws::api_error;
use super::sources::Source;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The most stream names one FilterLogEvents call takes.
const STREAMS_PER_CALL: usize = 100;

/// What to read: from when (milliseconds since the epoch) and matching what.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// `startTime`, when given.
    pub start: Option<i64>,
    /// `filterPattern`, when given.
    pub filter: Option<&'a str>,
}

/// One FilterLogEvents query, paged: its group, its streams and the events fetched but not yet taken.
struct Cursor<'s> {
    group: &'s str,
    streams: Vec<String>,
    buffer: VecDeque<FilteredLogEvent>,
    token: Option<String>,
    finished: bool,
}

impl Cursor<'_> {
    /// Fetches pages until one has events or there are no more. A missing group reads as empty and is
    /// reported with `Ok(false)`; any other error (a bad filter pattern ...) is returned.
    async fn fill(&mut self, logs: &Client, query: Query<'_>) -> anyhow::Result<bool> {
        while self.buffer.is_empty() && !self.finished {
            let sent = self.token.clone();
            let page = logs
                .filter_log_events()
                .log_group_name(self.group)
                .set_log_stream_names(Some(self.streams.clone()))
                .set_start_time(query.start)
                .set_filter_pattern(query.filter.map(str::to_string))
                .set_next_token(sent.clone())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) if e.code() == Some("ResourceNotFoundException") => {
                    self.finished = true;
                    return Ok(false);
                }
                Err(e) => return Err(api_error("FilterLogEvents", e)),
            };
            let events = page.events.unwrap_or_default();
            self.finished = page.next_token.is_none() || (events.is_empty() && page.next_token == sent);
            self.buffer.extend(events);
            self.token = page.next_token;
        }
        Ok(true)
    }

    /// The timestamp of the next event, when one is buffered.
    fn head(&self) -> Option<i64> {
        self.buffer.front().map(|e| e.timestamp.unwrap_or_default())
    }
}

/// Reads every event of `sources` that `query` selects, oldest first across groups, handing each to `emit` with
/// its source; returns the groups that do not exist (yet).
pub async fn read_all<F>(
    logs: &Client,
    sources: &[Source],
    query: Query<'_>,
    mut emit: F,
) -> anyhow::Result<Vec<String>>
where
    F: FnMut(&Source, FilteredLogEvent) -> anyhow::Result<()>,
{
    let mut by_group: BTreeMap<&str, Vec<&Source>> = BTreeMap::new();
    for source in sources {
        by_group.entry(source.group.as_str()).or_default().push(source);
    }
    let index: HashMap<(&str, &str), &Source> =
        sources.iter().map(|s| ((s.group.as_str(), s.stream.as_str()), s)).collect();
    let mut cursors: Vec<Cursor<'_>> = by_group
        .iter()
        .flat_map(|(group, sources)| {
            sources.chunks(STREAMS_PER_CALL).map(|chunk| Cursor {
                group,
                streams: chunk.iter().map(|s| s.stream.clone()).collect(),
                buffer: VecDeque::new(),
                token: None,
                finished: false,
            })
        })
        .collect();
    let mut missing = Vec::new();
    loop {
        for cursor in cursors.iter_mut() {
            if !cursor.fill(logs, query).await? && !missing.iter().any(|g| g == cursor.group) {
                missing.push(cursor.group.to_string());
            }
        }
        let next = cursors.iter_mut().filter(|c| c.head().is_some()).min_by_key(|c| c.head());
        let Some(cursor) = next else {
            return Ok(missing);
        };
        let group = cursor.group;
        let Some(event) = cursor.buffer.pop_front() else {
            continue;
        };
        let stream = event.log_stream_name.as_deref().unwrap_or_default();
        if let Some(source) = index.get(&(group, stream)) {
            emit(source, event)?;
        }
    }
}

/// The events printed while following, by (group, event id) with their timestamps, so that the overlapping
/// windows of successive polls print each event once. Ids older than the window are forgotten.
#[derive(Debug, Default)]
pub struct Seen {
    ids: HashMap<(String, String), i64>,
    newest: Option<i64>,
    prune_at: usize,
}

/// How far back each poll looks from the newest event printed: events the agent delivers later than this after
/// their own timestamp are not shown by `-f`.
pub const LOOKBACK_MILLIS: i64 = 30_000;

/// How many ids are remembered before the old ones are dropped, at least.
const PRUNE_AT_LEAST: usize = 10_000;

impl Seen {
    /// Records an event; `false` when it was printed before.
    pub fn insert(&mut self, group: &str, event: &FilteredLogEvent) -> bool {
        let timestamp = event.timestamp.unwrap_or_default();
        let key = (group.to_string(), event.event_id.clone().unwrap_or_default());
        if self.ids.insert(key, timestamp).is_some() {
            return false;
        }
        self.newest = Some(self.newest.map_or(timestamp, |n| n.max(timestamp)));
        if self.ids.len() >= self.prune_at.max(PRUNE_AT_LEAST) {
            self.prune();
        }
        true
    }

    /// Where the next poll starts: [`LOOKBACK_MILLIS`] before the newest event printed, or before `fallback`
    /// (the time the following began) when none was; never before `start`.
    pub fn window_start(&self, start: Option<i64>, fallback: i64) -> i64 {
        let from = self.newest.unwrap_or(fallback).saturating_sub(LOOKBACK_MILLIS);
        start.map_or(from, |s| s.max(from))
    }

    /// Forgets the ids that the next poll's window no longer reaches.
    pub fn prune(&mut self) {
        if let Some(newest) = self.newest {
            let floor = newest.saturating_sub(LOOKBACK_MILLIS);
            self.ids.retain(|_, timestamp| *timestamp >= floor);
        }
        self.prune_at = self.ids.len() * 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, timestamp: i64) -> FilteredLogEvent {
        FilteredLogEvent::builder().event_id(id).timestamp(timestamp).build()
    }

    #[test]
    fn each_event_is_printed_once_and_the_window_follows_the_newest() {
        let mut seen = Seen::default();
        assert_eq!(seen.window_start(None, 100_000), 70_000, "nothing seen: from the time following began");
        assert!(seen.insert("/g", &event("1", 50_000)));
        assert!(seen.insert("/g", &event("2", 90_000)));
        assert!(!seen.insert("/g", &event("1", 50_000)), "a repeat");
        assert!(seen.insert("/other", &event("1", 50_000)), "ids are per group");
        assert_eq!(seen.window_start(None, 0), 60_000);
        assert_eq!(seen.window_start(Some(80_000), 0), 80_000, "never before --since");
        seen.prune();
        assert!(seen.insert("/g", &event("1", 50_000)), "forgotten once out of the window");
        assert!(!seen.insert("/g", &event("2", 90_000)), "still remembered");
    }
}

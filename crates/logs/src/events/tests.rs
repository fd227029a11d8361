use super::*;

const T0: i64 = 1_800_000_000_000;

fn small() -> EventStoreConfig {
    EventStoreConfig { segment_bytes: 300, seal_idle_millis: 1000 }
}

fn batch(from: i64, n: i64, text: &str) -> Vec<(i64, String)> {
    (0..n).map(|i| (from + i, format!("{text} {i}"))).collect()
}

fn messages(events: &[LogEvent]) -> Vec<String> {
    events.iter().map(|e| e.message.clone()).collect()
}

#[test]
fn events_survive_a_restart_sealed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EventStore::open(dir.path(), small()).unwrap();
        store.append("g", "a", &batch(T0, 20, "first"), T0, None).unwrap();
        assert_eq!(store.maintain("g", T0, None).unwrap().1, 0);
        store.append("g", "a", &batch(T0 + 100, 3, "second"), T0 + 1, None).unwrap();
        store.append("g", "b", &batch(T0 + 50, 2, "other"), T0 + 2, None).unwrap();
    }
    let store = EventStore::open(dir.path(), small()).unwrap();
    let all = store.read_stream("g", "a", Range::default(), 100, true).unwrap();
    assert_eq!(all.len(), 23);
    assert_eq!(all[0].message, "first 0");
    assert_eq!(all[22].message, "second 2");
    assert!(all.windows(2).all(|w| w[0].position() < w[1].position()));
    let sealed = segment::list(&dir.path().join("g")).unwrap().iter().filter(|(_, g)| g.is_some()).count();
    assert!(sealed > 0, "the first segments were sealed");
    let stats = store.stream_stats("g", "b", None);
    assert_eq!(
        (stats.first_event, stats.last_event, stats.last_ingestion),
        (Some(T0 + 50), Some(T0 + 51), Some(T0 + 2))
    );
    store.append("g", "a", &batch(T0 + 200, 1, "third"), T0 + 3, None).unwrap();
    let last = store.read_stream("g", "a", Range::default(), 1, false).unwrap();
    assert_eq!(messages(&last), ["third 0"]);
}

#[test]
fn reads_page_forward_and_backward_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    store.append("g", "s", &batch(T0, 10, "m"), T0, None).unwrap();
    let head = store.read_stream("g", "s", Range::default(), 4, true).unwrap();
    assert_eq!(messages(&head), ["m 0", "m 1", "m 2", "m 3"]);
    let next =
        store.read_stream("g", "s", Range { after: Some(head[3].position()), ..Range::default() }, 4, true).unwrap();
    assert_eq!(messages(&next), ["m 4", "m 5", "m 6", "m 7"]);
    let back =
        store.read_stream("g", "s", Range { before: Some(next[0].position()), ..Range::default() }, 2, false).unwrap();
    assert_eq!(messages(&back), ["m 2", "m 3"]);
    let window = store
        .read_stream("g", "s", Range { start: Some(T0 + 2), end: Some(T0 + 4), ..Range::default() }, 100, true)
        .unwrap();
    assert_eq!(messages(&window), ["m 2", "m 3"]);
}

/// A filter over every stream with a predicate and an optional literal.
fn filter(
    store: &EventStore,
    range: Range,
    keep: &(dyn Fn(&str) -> bool + Sync),
    literal: Option<&str>,
    limit: usize,
) -> (Vec<LogEvent>, Option<Position>) {
    let query = FilterQuery {
        wanted: &|_| true,
        range,
        keep,
        literal: literal.map(str::as_bytes),
        limit,
        max_bytes: usize::MAX,
    };
    store.filter("g", &query).unwrap()
}

/// Pages through a filter to the end; every event found.
fn filter_all(
    store: &EventStore,
    keep: &(dyn Fn(&str) -> bool + Sync),
    literal: Option<&str>,
    limit: usize,
) -> Vec<LogEvent> {
    let (mut all, mut after) = (Vec::new(), None);
    loop {
        let (page, resume) = filter(store, Range { after, ..Range::default() }, keep, literal, limit);
        all.extend(page);
        match resume {
            Some(pos) => after = Some(pos),
            None => return all,
        }
    }
}

#[test]
fn filter_interleaves_streams_and_resumes_after_the_last_examined_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    store.append("g", "a", &[(T0, "a ERROR".into()), (T0 + 2, "a ok".into())], T0, None).unwrap();
    store.append("g", "b", &[(T0 + 1, "b ERROR".into()), (T0 + 3, "b ERROR".into())], T0, None).unwrap();
    for literal in [None, Some("ERROR")] {
        let (events, resume) = filter(&store, Range::default(), &|m| m.contains("ERROR"), literal, 2);
        assert_eq!(messages(&events), ["a ERROR", "b ERROR"]);
        let resume = resume.unwrap();
        let (rest, end) =
            filter(&store, Range { after: Some(resume), ..Range::default() }, &|m| m.contains("ERROR"), literal, 2);
        assert_eq!(messages(&rest), ["b ERROR"]);
        assert_eq!(end, None);
    }
    let query = FilterQuery {
        wanted: &|s| s == "a",
        range: Range::default(),
        keep: &|_| true,
        literal: None,
        limit: 10,
        max_bytes: usize::MAX,
    };
    let (only_a, _) = store.filter("g", &query).unwrap();
    assert_eq!(messages(&only_a), ["a ERROR", "a ok"]);
}

#[test]
fn filter_answers_in_time_order_across_overlapping_and_separate_segments_sealed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), small()).unwrap();
    // Three streams written out of time order: segments overlap in time (one window) and then follow each other.
    for round in 0..6 {
        for (s, offset) in [("a", 2), ("b", 0), ("c", 1)] {
            let events: Vec<(i64, String)> = (0..4)
                .map(|i| {
                    let t = T0 + round * 100 + i * 3 + offset;
                    (t, format!("{s} t{t} {}", if i % 2 == 0 { "ERROR" } else { "ok" }))
                })
                .collect();
            store.append("g", s, &events, T0, None).unwrap();
        }
    }
    let expected = |all: &[LogEvent]| {
        let mut sorted = all.to_vec();
        sorted.sort_by_key(LogEvent::position);
        sorted
    };
    for sealed in [false, true] {
        if sealed {
            store.maintain("g", T0 + 1_000_000, None).unwrap();
        }
        for limit in [1, 2, 5, 10_000] {
            let every = filter_all(&store, &|_| true, None, limit);
            assert_eq!(every.len(), 72, "sealed {sealed} limit {limit}");
            assert_eq!(every, expected(&every), "time order, sealed {sealed} limit {limit}");
            let errors = filter_all(&store, &|m| m.contains("ERROR"), Some("ERROR"), limit);
            assert_eq!(errors.len(), 36);
            assert!(errors.iter().all(|e| e.message.ends_with("ERROR")));
            assert_eq!(errors, expected(&errors));
            assert_eq!(errors, every.iter().filter(|e| e.message.contains("ERROR")).cloned().collect::<Vec<_>>());
        }
    }
}

#[test]
fn a_literal_in_a_stream_name_or_in_no_message_finds_nothing_wrongly() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    store.append("g", "ERROR-stream", &batch(T0, 5, "fine"), T0, None).unwrap();
    let (found, resume) = filter(&store, Range::default(), &|m| m.contains("ERROR"), Some("ERROR"), 100);
    assert!(found.is_empty() && resume.is_none());
    let (found, _) = filter(&store, Range::default(), &|m| m.contains("nowhere"), Some("nowhere"), 100);
    assert!(found.is_empty());
}

#[test]
fn a_deleted_stream_is_not_found_by_filter_even_before_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    store.append("g", "gone", &batch(T0, 3, "ERROR old"), T0, None).unwrap();
    store.delete_stream("g", "gone").unwrap();
    store.append("g", "gone", &batch(T0 + 10, 2, "ERROR new"), T0, None).unwrap();
    let found = filter_all(&store, &|m| m.contains("ERROR"), Some("ERROR"), 100);
    assert_eq!(messages(&found), ["ERROR new 0", "ERROR new 1"]);
}

#[test]
fn retention_compaction_removes_old_events_from_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), small()).unwrap();
    store.append("g", "s", &batch(T0, 10, "old"), T0, None).unwrap();
    store.append("g", "s", &batch(T0 + 5000, 10, "new"), T0 + 5000, None).unwrap();
    let (sealed, removed) = store.maintain("g", T0 + 100_000, Some(T0 + 5000)).unwrap();
    assert!(sealed > 0);
    assert_eq!(removed, 10);
    drop(store);
    let store = EventStore::open(dir.path(), small()).unwrap();
    let left = store.read_stream("g", "s", Range::default(), 100, true).unwrap();
    assert_eq!(left.len(), 10);
    assert!(left.iter().all(|e| e.message.starts_with("new")));
}

#[test]
fn a_deleted_stream_stays_deleted_after_a_restart_and_can_be_recreated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EventStore::open(dir.path(), small()).unwrap();
        store.append("g", "s", &batch(T0, 5, "before"), T0, None).unwrap();
        store.delete_stream("g", "s").unwrap();
        store.append("g", "s", &batch(T0 + 10, 1, "after"), T0, None).unwrap();
    }
    let store = EventStore::open(dir.path(), small()).unwrap();
    assert_eq!(messages(&store.read_stream("g", "s", Range::default(), 100, true).unwrap()), ["after 0"]);
    store.maintain("g", T0 + 1_000_000, None).unwrap();
    assert_eq!(messages(&store.read_stream("g", "s", Range::default(), 100, true).unwrap()), ["after 0"]);
    // Compaction dropped the deleted events from the files, and with them the tombstone.
    let group = dir.path().join("g");
    let mut stored = Vec::new();
    for (id, generation) in segment::list(&group).unwrap() {
        stored.extend(segment::read_bytes(&group, id, generation).unwrap());
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(stored.contains("after 0") && !stored.contains("before"), "{stored}");
    assert_eq!(fs::read_to_string(group.join("tombstones.json")).unwrap(), "{}");
}

#[test]
fn a_retried_batch_id_is_stored_once_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
        assert!(store.append("g", "s", &batch(T0, 2, "m"), T0, Some("batch-1")).unwrap());
        assert!(!store.append("g", "s", &batch(T0, 2, "m"), T0, Some("batch-1")).unwrap());
    }
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    assert!(!store.append("g", "s", &batch(T0, 2, "m"), T0, Some("batch-1")).unwrap());
    assert!(store.append("g", "s", &batch(T0, 2, "m"), T0, Some("batch-2")).unwrap());
    assert_eq!(store.read_stream("g", "s", Range::default(), 100, true).unwrap().len(), 4);
}

#[test]
fn dropping_a_group_removes_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    store.append("g", "s", &batch(T0, 1, "m"), T0, None).unwrap();
    store.drop_group("g").unwrap();
    assert!(!dir.path().join("g").exists());
    assert!(store.group_ids().is_empty());
}

#[test]
fn a_partly_expired_segment_is_rewritten_as_a_new_generation_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    store.append("g", "s", &batch(T0, 6, "m"), T0, None).unwrap();
    assert_eq!(store.maintain("g", T0 + 3_600_000, None).unwrap(), (1, 0));
    assert_eq!(store.maintain("g", T0 + 3_600_000, Some(T0 + 3)).unwrap(), (0, 3));
    assert_eq!(segment::list(&dir.path().join("g")).unwrap(), [(1, Some(1))]);
    drop(store);
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    assert_eq!(messages(&store.read_stream("g", "s", Range::default(), 100, true).unwrap()), ["m 3", "m 4", "m 5"]);
    store.append("g", "s", &batch(T0 + 10, 1, "next"), T0, None).unwrap();
    assert_eq!(store.read_stream("g", "s", Range::default(), 100, true).unwrap().len(), 4);
}

#[test]
fn a_damaged_index_is_rebuilt_from_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    store.append("g", "s", &batch(T0, 3, "m"), T0, None).unwrap();
    store.maintain("g", T0 + 3_600_000, None).unwrap();
    drop(store);
    fs::write(segment::index_path(&dir.path().join("g"), 1, 0), b"not gzip").unwrap();
    let store = EventStore::open(dir.path(), EventStoreConfig::default()).unwrap();
    assert_eq!(messages(&store.read_stream("g", "s", Range::default(), 10, true).unwrap()), ["m 0", "m 1", "m 2"]);
}

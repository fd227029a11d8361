//! Metric filters applied to events: what the metrics feature (issue 13 item 3) counts.
//!
//! [`apply`] turns one event into the data points its group's metric filters give: for each filter whose pattern
//! matches, one point per transformation, with the value `metricValue` names (`1`, `$.latency`, `$bytes`) and the
//! dimensions resolved the same way. [`apply_batch`] does that for a stored batch and adds each transformation's
//! `defaultValue` once for a batch in which its filter matched no event (CloudWatch reports the default value for
//! ingestion without a match, so a count metric reads 0 rather than missing). The points go to the [`MetricSink`]
//! the server registers ([`crate::Logs::set_metric_sink`]), which writes them into the metrics store.

use crate::pattern::Pattern;
use berth_model::logs::MetricFilter;
use std::collections::BTreeMap;

/// One data point a metric filter gives for one event.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDatum {
    /// The filter that matched.
    pub filter_name: String,
    /// `metricNamespace`.
    pub namespace: String,
    /// `metricName`.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Dimensions, their values resolved from the event.
    pub dimensions: BTreeMap<String, String>,
    /// `unit`, as the wire names it.
    pub unit: Option<String>,
    /// The event's timestamp (epoch milliseconds).
    pub timestamp: i64,
}

/// The data points `filters` give for an event (`timestamp`, `message`). A filter whose stored pattern no longer
/// parses gives none.
pub fn apply(filters: &[MetricFilter], timestamp: i64, message: &str) -> Vec<MetricDatum> {
    let mut out = Vec::new();
    for filter in filters {
        let Ok(pattern) = Pattern::parse(filter.filter_pattern.as_deref().unwrap_or_default()) else { continue };
        if !pattern.matches(message) {
            continue;
        }
        for t in filter.metric_transformations.iter().flatten() {
            let Some(value) = pattern.metric_value(message, &t.metric_value) else { continue };
            let dimensions = t
                .dimensions
                .iter()
                .flatten()
                .filter_map(|(k, spec)| Some((k.clone(), dimension_value(&pattern, message, spec)?)))
                .collect();
            out.push(MetricDatum {
                filter_name: filter.filter_name.clone().unwrap_or_default(),
                namespace: t.metric_namespace.clone(),
                name: t.metric_name.clone(),
                value,
                dimensions,
                unit: t.unit.map(|u| u.as_str().to_string()),
                timestamp,
            });
        }
    }
    out
}

/// Where metric filters' data points go (the server writes them into the CloudWatch metrics store).
pub trait MetricSink: Send + Sync {
    /// Records the points of one stored batch; a point that cannot be stored is the sink's to log.
    fn put(&self, points: &[MetricDatum]);
}

/// The data points `filters` give for a stored batch of `(timestamp, message)` events: [`apply`] for each event,
/// plus each transformation's `defaultValue` (at the batch's last timestamp) when its filter matched none of them.
pub fn apply_batch(filters: &[MetricFilter], events: &[(i64, String)]) -> Vec<MetricDatum> {
    let mut out = Vec::new();
    for filter in filters {
        let one = std::slice::from_ref(filter);
        let before = out.len();
        for (timestamp, message) in events {
            out.extend(apply(one, *timestamp, message));
        }
        if out.len() > before {
            continue;
        }
        let Some((last, _)) = events.last() else { continue };
        for t in filter.metric_transformations.iter().flatten() {
            let Some(value) = t.default_value else { continue };
            out.push(MetricDatum {
                filter_name: filter.filter_name.clone().unwrap_or_default(),
                namespace: t.metric_namespace.clone(),
                name: t.metric_name.clone(),
                value,
                dimensions: BTreeMap::new(),
                unit: t.unit.map(|u| u.as_str().to_string()),
                timestamp: *last,
            });
        }
    }
    out
}

/// A dimension's value: `$.path` or `$field` from the event, else the text as written.
fn dimension_value(pattern: &Pattern, message: &str, spec: &str) -> Option<String> {
    if let Some(path) = spec.strip_prefix("$.") {
        let value: serde_json::Value = serde_json::from_str(message).ok()?;
        let found = path.split('.').try_fold(&value, |v, k| v.get(k))?;
        return Some(match found {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    if let Some(field) = spec.strip_prefix('$') {
        return pattern.extracted_values(message).remove(&format!("${field}"));
    }
    Some(spec.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::logs::MetricTransformation;

    fn filter(pattern: &str, value: &str) -> MetricFilter {
        MetricFilter {
            filter_name: Some("f".into()),
            filter_pattern: Some(pattern.into()),
            metric_transformations: Some(vec![MetricTransformation {
                metric_name: "Latency".into(),
                metric_namespace: "App".into(),
                metric_value: value.into(),
                dimensions: Some(BTreeMap::from([("Level".to_string(), "$.level".to_string())])),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn matching_events_give_points_with_values_and_dimensions() {
        let filters = [filter("{ $.ms > 100 }", "$.ms")];
        let points = apply(&filters, 7, r#"{"level": "error", "ms": 250}"#);
        assert_eq!(points.len(), 1);
        assert_eq!((points[0].value, points[0].dimensions["Level"].as_str(), points[0].timestamp), (250.0, "error", 7));
        assert!(apply(&filters, 7, r#"{"level": "error", "ms": 50}"#).is_empty());
        assert_eq!(apply(&[filter("ERROR", "1")], 1, "ERROR x")[0].value, 1.0);
    }

    #[test]
    fn a_batch_without_a_match_gives_the_default_value_once() {
        let mut counting = filter("ERROR", "1");
        counting.metric_transformations.as_mut().unwrap()[0].default_value = Some(0.0);
        counting.metric_transformations.as_mut().unwrap()[0].dimensions = None;
        let quiet = [(1, "ok".to_string()), (2, "fine".to_string())];
        let points = apply_batch(std::slice::from_ref(&counting), &quiet);
        assert_eq!(points.iter().map(|p| (p.value, p.timestamp)).collect::<Vec<_>>(), vec![(0.0, 2)]);
        let noisy = [(1, "ERROR a".to_string()), (2, "ok".to_string()), (3, "ERROR b".to_string())];
        let points = apply_batch(std::slice::from_ref(&counting), &noisy);
        assert_eq!(points.iter().map(|p| (p.value, p.timestamp)).collect::<Vec<_>>(), vec![(1.0, 1), (1.0, 3)]);
        assert!(apply_batch(&[filter("ERROR", "1")], &quiet).is_empty(), "no default value, no point");
    }
}

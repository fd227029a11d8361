//! PutMetricData, and the in-process write path it shares with [`crate::Metrics::put`].

use super::{Empty, check_dimensions, check_len};
use crate::points::Point;
use crate::series::{Bucket, SeriesKey};
use crate::sketch::Sketch;
use crate::{Metrics, MetricsError};
use berth_model::cloudwatch::{MetricDatum, PutMetricDataInput};

/// The largest magnitude CloudWatch accepts for a value (2^360).
const MAX_MAGNITUDE: f64 = 2.348_542_582_773_833_3e108;

/// Oldest accepted timestamp: two weeks back.
const MAX_AGE: f64 = 14.0 * 86_400.0;
/// Newest accepted timestamp: two hours ahead.
const MAX_AHEAD: f64 = 2.0 * 3600.0;

pub(crate) fn put_metric_data(metrics: &Metrics, input: PutMetricDataInput) -> Result<Empty, MetricsError> {
    check_namespace(&input.namespace, true)?;
    if input.entity_metric_data.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err(MetricsError::invalid("EntityMetricData is not supported by Berth; send MetricData."));
    }
    let data = input.metric_data.unwrap_or_default();
    if data.is_empty() {
        return Err(MetricsError::missing("The parameter MetricData is required."));
    }
    if data.len() > 1000 {
        return Err(MetricsError::invalid("The collection MetricData must not have a size greater than 1000."));
    }
    let now = metrics.clock.now();
    let mut points = Vec::new();
    for (i, datum) in data.iter().enumerate() {
        points.extend(datum_points(&input.namespace, datum, &format!("MetricData.member.{}", i + 1), now)?);
    }
    metrics.points.add(&points, now)?;
    Ok(Empty {})
}

/// Checks a namespace: 1-255 characters, printable ASCII, no leading `:`, and (from clients) not `AWS/...`.
pub(crate) fn check_namespace(namespace: &str, from_client: bool) -> Result<(), MetricsError> {
    check_len(namespace, 1, 255, "Namespace")?;
    let printable = namespace.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) && !namespace.starts_with(':');
    if !printable || (from_client && namespace.starts_with("AWS/")) {
        return Err(MetricsError::invalid(format!("The value {namespace} for parameter Namespace is invalid.")));
    }
    Ok(())
}

fn check_value(value: f64, what: &str) -> Result<(), MetricsError> {
    if !value.is_finite() || value.abs() > MAX_MAGNITUDE || (value != 0.0 && value.abs() < 1.0 / MAX_MAGNITUDE) {
        return Err(MetricsError::invalid(format!(
            "The value {value} for parameter {what} is invalid: values must be in the range -2^360 to 2^360 \
             (and 0 or at least 2^-260 in magnitude)."
        )));
    }
    Ok(())
}

/// The points one datum adds, after AWS's checks.
fn datum_points(namespace: &str, d: &MetricDatum, at: &str, now: f64) -> Result<Vec<Point>, MetricsError> {
    check_len(&d.metric_name, 1, 255, &format!("{at}.MetricName"))?;
    let dimensions = check_dimensions(d.dimensions.as_deref().unwrap_or_default(), &format!("{at}.Dimensions"))?;
    let given = [d.value.is_some(), d.statistic_values.is_some(), d.values.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(MetricsError::combination(format!(
            "The parameters {at}.Value, {at}.StatisticValues and {at}.Values are mutually exclusive and you have \
             specified more than one."
        )));
    }
    if d.counts.is_some() && d.values.is_none() {
        return Err(MetricsError::combination(format!("The parameter {at}.Counts requires {at}.Values.")));
    }
    if let Some(r) = d.storage_resolution
        && r != 1
        && r != 60
    {
        return Err(MetricsError::invalid(format!(
            "The value {r} for parameter {at}.StorageResolution is invalid: it must be 1 or 60."
        )));
    }
    let timestamp = d.timestamp.unwrap_or(now);
    if !timestamp.is_finite() || timestamp < now - MAX_AGE {
        return Err(MetricsError::invalid(format!(
            "The parameter {at}.Timestamp must specify a time no more than two weeks in the past."
        )));
    }
    if timestamp > now + MAX_AHEAD {
        return Err(MetricsError::invalid(format!(
            "The parameter {at}.Timestamp must specify a time no more than two hours in the future."
        )));
    }
    let mut buckets = Vec::new();
    if let Some(v) = d.value {
        check_value(v, &format!("{at}.Value"))?;
        buckets.push((Bucket::of(v, 1.0), Some(Sketch::of(v, 1.0))));
    } else if let Some(s) = &d.statistic_values {
        for (v, name) in
            [(s.sample_count, "SampleCount"), (s.sum, "Sum"), (s.minimum, "Minimum"), (s.maximum, "Maximum")]
        {
            check_value(v, &format!("{at}.StatisticValues.{name}"))?;
        }
        if s.sample_count <= 0.0 || s.minimum > s.maximum {
            return Err(MetricsError::invalid(format!(
                "The parameter {at}.StatisticValues is invalid: SampleCount must be positive and Minimum at most Maximum."
            )));
        }
        // A set's values are known (and so its percentiles) only when it holds one value, or equal ones.
        let known = s.sample_count == 1.0 || s.minimum == s.maximum;
        let sketch = known.then(|| Sketch::of(s.minimum, s.sample_count));
        buckets.push((Bucket { count: s.sample_count, sum: s.sum, min: s.minimum, max: s.maximum }, sketch));
    } else if let Some(values) = &d.values {
        if values.len() > 150 {
            return Err(MetricsError::invalid(format!(
                "The collection {at}.Values must not have a size greater than 150."
            )));
        }
        let counts = d.counts.as_deref();
        if counts.is_some_and(|c| c.len() != values.len()) {
            return Err(MetricsError::combination(format!(
                "The parameters {at}.Values and {at}.Counts must be of the same size."
            )));
        }
        for (j, v) in values.iter().enumerate() {
            check_value(*v, &format!("{at}.Values.member.{}", j + 1))?;
            let count = counts.map_or(1.0, |c| c[j]);
            if !count.is_finite() || count < 0.0 {
                return Err(MetricsError::invalid(format!(
                    "The value {count} for parameter {at}.Counts.member.{} is invalid.",
                    j + 1
                )));
            }
            if count > 0.0 {
                buckets.push((Bucket::of(*v, count), Some(Sketch::of(*v, count))));
            }
        }
    } else {
        return Err(MetricsError::combination(format!(
            "At least one of the parameters {at}.Value, {at}.StatisticValues or {at}.Values must be specified."
        )));
    }
    let key = SeriesKey::new(namespace, &d.metric_name, dimensions);
    let minute = (timestamp / 60.0).floor() as i64;
    let unit = d.unit.map(|u| u.as_str().to_string());
    Ok(buckets
        .into_iter()
        .map(|(bucket, sketch)| Point { key: key.clone(), minute, bucket, unit: unit.clone(), sketch })
        .collect())
}

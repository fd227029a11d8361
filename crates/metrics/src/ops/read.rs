//! GetMetricStatistics and GetMetricData: statistics over periods of a series' 1-minute buckets.

use super::{check_dimensions, offset_of, token_at};
use crate::series::{Bucket, SeriesKey, Stat, periods};
use crate::sketch::{Sketch, parse_percentile};
use crate::{Metrics, MetricsError};
use berth_model::cloudwatch::{
    Datapoint, Dimension, GetMetricDataInput, GetMetricDataOutput, GetMetricStatisticsInput, GetMetricStatisticsOutput,
    MetricDataResult, ScanBy, StandardUnit, StatusCode,
};

/// Datapoints one GetMetricStatistics call may return.
const MAX_DATAPOINTS: i64 = 1440;
/// GetMetricData's default (and largest) MaxDatapoints.
const MAX_DATA_DATAPOINTS: usize = 100_800;

/// Checks a period: Berth keeps 1-minute data, so a period is 60 seconds or a multiple of 60.
pub(crate) fn check_period(period: i64, what: &str) -> Result<(), MetricsError> {
    if period < 60 || period % 60 != 0 {
        return Err(MetricsError::invalid(format!(
            "The parameter {what} must be 60 or a multiple of 60 (Berth keeps 1-minute data; periods of 1, 5, 10, 20 \
             and 30 seconds need high-resolution storage, which it does not have)."
        )));
    }
    Ok(())
}

fn check_range(start: f64, end: f64) -> Result<(), MetricsError> {
    if !(start.is_finite() && end.is_finite()) || start >= end {
        return Err(MetricsError::invalid("The parameter StartTime must be less than the parameter EndTime."));
    }
    Ok(())
}

/// A period's start, aggregate and (when asked for and complete) sketch.
type PeriodData = (i64, Bucket, Option<Sketch>);

/// The buckets of a series by period, or none when the series does not exist or its unit is not `unit`.
fn series_periods(
    metrics: &Metrics,
    key: &SeriesKey,
    unit: Option<StandardUnit>,
    (start, end, period): (f64, f64, i64),
    with_sketches: bool,
) -> (Vec<PeriodData>, Option<String>) {
    metrics
        .points
        .with_series(key, |s| {
            let unit_matches = unit.is_none_or(|u| s.unit.as_deref().unwrap_or("None") == u.as_str());
            if unit_matches {
                (periods(s, start, end, period, with_sketches), s.unit.clone())
            } else {
                (Vec::new(), None)
            }
        })
        .unwrap_or_default()
}

pub(crate) fn get_metric_statistics(
    metrics: &Metrics,
    input: GetMetricStatisticsInput,
) -> Result<GetMetricStatisticsOutput, MetricsError> {
    let period = i64::from(input.period);
    check_period(period, "Period")?;
    check_range(input.start_time, input.end_time)?;
    let statistics = input.statistics.unwrap_or_default();
    let extended = input.extended_statistics.unwrap_or_default();
    if statistics.is_empty() == extended.is_empty() {
        return Err(MetricsError::combination("Must specify either Statistics or ExtendedStatistics, but not both."));
    }
    if extended.len() > 10 {
        return Err(MetricsError::invalid("The collection ExtendedStatistics must not have a size greater than 10."));
    }
    let mut percentiles = Vec::new();
    for (i, e) in extended.iter().enumerate() {
        let q = parse_percentile(e).ok_or_else(|| {
            MetricsError::invalid(format!(
                "The value {e} for parameter ExtendedStatistics.member.{} is invalid: Berth computes percentiles \
                 (p0.0 to p100), not trimmed or windsorized statistics.",
                i + 1
            ))
        })?;
        percentiles.push((e.clone(), q));
    }
    if statistics.len() > 5 {
        return Err(MetricsError::invalid("The collection Statistics must not have a size greater than 5."));
    }
    let requested = ((input.end_time - input.start_time) / period as f64).ceil() as i64;
    if requested > MAX_DATAPOINTS {
        return Err(MetricsError::combination(format!(
            "You have requested up to {requested} datapoints, which exceeds the limit of {MAX_DATAPOINTS}. You may \
             reduce the datapoints requested by increasing Period, or decreasing the time range."
        )));
    }
    let dimensions = check_dimensions(input.dimensions.as_deref().unwrap_or_default(), "Dimensions")?;
    let key = SeriesKey::new(&input.namespace, &input.metric_name, dimensions);
    let range = (input.start_time, input.end_time, period);
    let (buckets, unit) = series_periods(metrics, &key, input.unit, range, !percentiles.is_empty());
    let unit = input.unit.or_else(|| unit.as_deref().and_then(StandardUnit::parse)).unwrap_or(StandardUnit::None);
    let datapoints = buckets
        .iter()
        .map(|(t, b, sketch)| {
            let mut d = Datapoint { timestamp: Some(*t as f64), unit: Some(unit), ..Default::default() };
            // Percentiles of a period some of whose values are not in a sketch (statistic sets) are left out.
            if let Some(sketch) = sketch.as_ref().filter(|_| !percentiles.is_empty()) {
                let values = percentiles.iter().filter_map(|(name, q)| Some((name.clone(), sketch.quantile(*q)?)));
                d.extended_statistics = Some(values.collect());
            }
            for s in &statistics {
                let stat = Stat::parse(s.as_str()).unwrap_or(Stat::Average);
                let v = Some(stat.of(b));
                match stat {
                    Stat::SampleCount => d.sample_count = v,
                    Stat::Average => d.average = v,
                    Stat::Sum => d.sum = v,
                    Stat::Minimum => d.minimum = v,
                    Stat::Maximum => d.maximum = v,
                    Stat::Percentile(_) => {}
                }
            }
            d
        })
        .collect();
    Ok(GetMetricStatisticsOutput { label: Some(input.metric_name), datapoints: Some(datapoints) })
}

fn dims(list: Option<&[Dimension]>, at: &str) -> Result<Vec<(String, String)>, MetricsError> {
    check_dimensions(list.unwrap_or_default(), at)
}

pub(crate) fn get_metric_data(
    metrics: &Metrics,
    input: GetMetricDataInput,
) -> Result<GetMetricDataOutput, MetricsError> {
    let queries = input.metric_data_queries;
    if queries.is_empty() || queries.len() > 500 {
        return Err(MetricsError::invalid("The collection MetricDataQueries must have between 1 and 500 members."));
    }
    check_range(input.start_time, input.end_time)?;
    let max = match input.max_datapoints {
        Some(n) if n < 1 => return Err(MetricsError::invalid("The parameter MaxDatapoints must be at least 1.")),
        Some(n) => (n as usize).min(MAX_DATA_DATAPOINTS),
        None => MAX_DATA_DATAPOINTS,
    };
    let skip = offset_of(input.next_token.as_deref())?;
    let descending = !matches!(input.scan_by, Some(ScanBy::TimestampAscending));
    let mut all: Vec<(MetricDataResult, Vec<(f64, f64)>)> = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let at = format!("MetricDataQueries.member.{}", i + 1);
        let ok_id = q.id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && q.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && q.id.len() <= 255;
        if !ok_id {
            return Err(MetricsError::invalid(format!(
                "The value {} for parameter {at}.Id is invalid: it must start with a lowercase letter and hold only \
                 letters, numbers and underscores.",
                q.id
            )));
        }
        if queries[..i].iter().any(|o| o.id == q.id) {
            return Err(MetricsError::invalid(format!("The value {} for parameter {at}.Id is not unique.", q.id)));
        }
        if q.expression.is_some() {
            return Err(MetricsError::invalid(format!(
                "{at}.Expression: metric math and Metrics Insights expressions are not supported by Berth; use MetricStat."
            )));
        }
        let Some(stat) = &q.metric_stat else {
            return Err(MetricsError::missing(format!(
                "The parameter {at}.MetricStat or {at}.Expression is required."
            )));
        };
        let period = i64::from(stat.period);
        check_period(period, &format!("{at}.MetricStat.Period"))?;
        let Some(statistic) = Stat::parse(&stat.stat) else {
            return Err(MetricsError::invalid(format!(
                "The value {} for parameter {at}.MetricStat.Stat is invalid: Berth computes SampleCount, Average, Sum, \
                 Minimum, Maximum and percentiles (pNN.NN), not trimmed or windsorized statistics.",
                stat.stat
            )));
        };
        let (Some(namespace), Some(name)) = (&stat.metric.namespace, &stat.metric.metric_name) else {
            return Err(MetricsError::missing(format!(
                "The parameters {at}.MetricStat.Metric.Namespace and MetricName are required."
            )));
        };
        let key = SeriesKey::new(
            namespace,
            name,
            dims(stat.metric.dimensions.as_deref(), &format!("{at}.MetricStat.Metric.Dimensions"))?,
        );
        if !q.return_data.unwrap_or(true) {
            continue;
        }
        let percentile = matches!(statistic, Stat::Percentile(_));
        let range = (input.start_time, input.end_time, period);
        let (buckets, _) = series_periods(metrics, &key, stat.unit, range, percentile);
        let mut values: Vec<(f64, f64)> = buckets
            .iter()
            .filter_map(|(t, b, sketch)| {
                let value = match statistic {
                    Stat::Percentile(h) => sketch.as_ref()?.quantile(f64::from(h) / 10_000.0)?,
                    simple => simple.of(b),
                };
                Some((*t as f64, value))
            })
            .collect();
        if descending {
            values.reverse();
        }
        let result = MetricDataResult {
            id: Some(q.id.clone()),
            label: Some(q.label.clone().unwrap_or_else(|| name.clone())),
            ..Default::default()
        };
        all.push((result, values));
    }
    // One page holds up to `max` values, taken query by query; the token is how many values earlier pages held.
    let total: usize = all.iter().map(|(_, v)| v.len()).sum();
    if skip > total {
        return Err(MetricsError::next_token("The NextToken is invalid for this request."));
    }
    let (mut passed, mut room) = (0usize, max);
    let mut results = Vec::new();
    for (mut result, values) in all {
        let from = skip.saturating_sub(passed).min(values.len());
        let take = (values.len() - from).min(room);
        let page = &values[from..from + take];
        room -= take;
        passed += values.len();
        result.timestamps = Some(page.iter().map(|(t, _)| *t).collect());
        result.values = Some(page.iter().map(|(_, v)| *v).collect());
        result.status_code =
            Some(if from + take < values.len() { StatusCode::PartialData } else { StatusCode::Complete });
        results.push(result);
    }
    let next = skip + max;
    let next_token = (next < total).then(|| token_at(next));
    Ok(GetMetricDataOutput { metric_data_results: Some(results), next_token, messages: Some(Vec::new()) })
}

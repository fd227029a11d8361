//! One metric series: its identity and its ring of 1-minute aggregates.
//!
//! A series is a namespace, a metric name and a set of dimensions (sorted by name, as CloudWatch treats them as a
//! set). Its data is one [`Bucket`] per minute that received a value, kept for [`RETENTION_MINUTES`]: the count,
//! sum, minimum and maximum of everything put in that minute, which is what every CloudWatch statistic but the
//! percentiles needs; percentiles come from a [`Sketch`] of the minute's values kept beside it (when the values are
//! known: a `StatisticValues` set with several distinct values has none, and then no percentile covers its minute).
//! A series holds at most one bucket and one sketch per minute of its retention, so its memory is bounded.

use crate::sketch::{MAX_BINS, Sketch, parse_percentile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long data is kept: 15 days of minutes (CloudWatch keeps 1-minute data for 15 days).
pub const RETENTION_MINUTES: i64 = 15 * 24 * 60;

/// A series' identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    /// The namespace (`AWS/ECS`, `MyApp`).
    pub namespace: String,
    /// The metric name.
    pub name: String,
    /// The dimensions, sorted by name (then value).
    pub dimensions: Vec<(String, String)>,
}

impl SeriesKey {
    /// A key; the dimensions are sorted.
    pub fn new(namespace: &str, name: &str, mut dimensions: Vec<(String, String)>) -> Self {
        dimensions.sort();
        Self { namespace: namespace.to_string(), name: name.to_string(), dimensions }
    }
}

/// The aggregate of the values put in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// How many values (a `Counts` entry or a `StatisticValues.SampleCount` counts as many).
    pub count: f64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Bucket {
    /// A bucket of `count` values equal to `value`.
    pub fn of(value: f64, count: f64) -> Self {
        Self { count, sum: value * count, min: value, max: value }
    }

    /// Adds another aggregate to this one.
    pub fn merge(&mut self, other: &Bucket) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

/// A series' data: the buckets of its retained minutes, and the unit it was last written with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Buckets by minute (epoch seconds / 60).
    pub buckets: BTreeMap<i64, Bucket>,
    /// The unit of the last write (`None`: never given).
    pub unit: Option<String>,
    /// The last time (epoch seconds, from the clock) a value was written.
    pub last_write: f64,
    /// Percentile sketches by minute.
    pub sketches: BTreeMap<i64, Sketch>,
}

impl Series {
    /// Adds an aggregate to a minute's bucket.
    pub fn add(&mut self, minute: i64, bucket: &Bucket) {
        self.buckets.entry(minute).and_modify(|b| b.merge(bucket)).or_insert(*bucket);
    }

    /// Adds a sketch to a minute's; how many bins the minute gained (negative if it lost some by the cap).
    pub fn add_sketch(&mut self, minute: i64, sketch: &Sketch) -> isize {
        let entry = self.sketches.entry(minute).or_default();
        let before = entry.bins.len() as isize;
        entry.merge(sketch, MAX_BINS);
        entry.bins.len() as isize - before
    }

    /// Drops buckets and sketches before `oldest_minute`; how many buckets and sketch bins were dropped.
    pub fn prune(&mut self, oldest_minute: i64) -> (usize, usize) {
        let keep = self.buckets.split_off(&oldest_minute);
        let dropped = self.buckets.len();
        self.buckets = keep;
        let keep = self.sketches.split_off(&oldest_minute);
        let bins = self.sketches.values().map(|s| s.bins.len()).sum();
        self.sketches = keep;
        (dropped, bins)
    }

    /// The sketch of the values in `[start_minute, end_minute)`, if every value there is in a sketch.
    pub fn sketch(&self, start_minute: i64, end_minute: i64) -> Option<Sketch> {
        let total = self.aggregate(start_minute, end_minute)?.count;
        let mut out = Sketch::default();
        for sketch in self.sketches.range(start_minute..end_minute).map(|(_, s)| s) {
            out.merge(sketch, usize::MAX);
        }
        ((out.count() - total).abs() <= 1e-6 * total.max(1.0)).then_some(out)
    }

    /// A statistic over `[start_minute, end_minute)`; `None` without data (or, for a percentile, without sketches
    /// of all of it).
    pub fn value(&self, stat: Stat, start_minute: i64, end_minute: i64) -> Option<f64> {
        match stat {
            Stat::Percentile(hundredths) => {
                self.sketch(start_minute, end_minute)?.quantile(f64::from(hundredths) / 10_000.0)
            }
            simple => self.aggregate(start_minute, end_minute).map(|b| simple.of(&b)),
        }
    }

    /// The aggregate of the buckets in `[start_minute, end_minute)`, if any.
    pub fn aggregate(&self, start_minute: i64, end_minute: i64) -> Option<Bucket> {
        if start_minute >= end_minute {
            return None;
        }
        let mut out: Option<Bucket> = None;
        for bucket in self.buckets.range(start_minute..end_minute).map(|(_, b)| b) {
            match out.as_mut() {
                Some(acc) => acc.merge(bucket),
                None => out = Some(*bucket),
            }
        }
        out
    }
}

/// A statistic CloudWatch computes from aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// `SampleCount`.
    SampleCount,
    /// `Average`.
    Average,
    /// `Sum`.
    Sum,
    /// `Minimum`.
    Minimum,
    /// `Maximum`.
    Maximum,
    /// A percentile (`p99.9`), in hundredths of a percent (9990).
    Percentile(u32),
}

impl Stat {
    /// Parses a statistic name: the five simple ones and percentiles (`p0` to `p100`, two decimals at most);
    /// `None` for the other extended statistics (trimmed means, ...).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "SampleCount" => Self::SampleCount,
            "Average" => Self::Average,
            "Sum" => Self::Sum,
            "Minimum" => Self::Minimum,
            "Maximum" => Self::Maximum,
            other => Self::Percentile((parse_percentile(other)? * 10_000.0).round() as u32),
        })
    }

    /// The statistic's name on the wire (`Average`, `p99.9`).
    pub fn name(self) -> String {
        match self {
            Self::SampleCount => "SampleCount".into(),
            Self::Average => "Average".into(),
            Self::Sum => "Sum".into(),
            Self::Minimum => "Minimum".into(),
            Self::Maximum => "Maximum".into(),
            Self::Percentile(h) if h % 100 == 0 => format!("p{}", h / 100),
            Self::Percentile(h) => format!("p{}", f64::from(h) / 100.0),
        }
    }

    /// The statistic's value over an aggregate (a percentile, which needs a sketch, gives the average: use
    /// [`Series::value`]).
    pub fn of(self, b: &Bucket) -> f64 {
        match self {
            Self::SampleCount => b.count,
            Self::Average => {
                if b.count > 0.0 {
                    b.sum / b.count
                } else {
                    0.0
                }
            }
            Self::Sum => b.sum,
            Self::Minimum => b.min,
            Self::Maximum => b.max,
            Self::Percentile(_) => Self::Average.of(b),
        }
    }
}

/// Splits `[start, end)` (epoch seconds) into periods of `period` seconds aligned on whole minutes from the start
/// rounded down, and aggregates each period that has data: `(period start, aggregate, sketch)`, oldest first; the
/// sketch only `with_sketches`, and only where every value of the period is in one.
pub fn periods(
    series: &Series,
    start: f64,
    end: f64,
    period: i64,
    with_sketches: bool,
) -> Vec<(i64, Bucket, Option<Sketch>)> {
    let period_minutes = (period / 60).max(1);
    let first = (start / 60.0).floor() as i64;
    let last = (end / 60.0).ceil() as i64;
    let mut out = Vec::new();
    let mut minute = first;
    while minute < last {
        let next = (minute + period_minutes).min(last);
        if let Some(b) = series.aggregate(minute, next) {
            let sketch = if with_sketches { series.sketch(minute, next) } else { None };
            out.push((minute * 60, b, sketch));
        }
        minute += period_minutes;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_merge_and_statistics() {
        let mut s = Series::default();
        s.add(10, &Bucket::of(1.0, 1.0));
        s.add(10, &Bucket::of(3.0, 1.0));
        s.add(11, &Bucket { count: 2.0, sum: 20.0, min: 5.0, max: 15.0 });
        let b = s.aggregate(10, 12).unwrap();
        assert_eq!(b, Bucket { count: 4.0, sum: 24.0, min: 1.0, max: 15.0 });
        assert_eq!(Stat::Average.of(&b), 6.0);
        assert_eq!(Stat::SampleCount.of(&b), 4.0);
        assert_eq!((Stat::Minimum.of(&b), Stat::Maximum.of(&b), Stat::Sum.of(&b)), (1.0, 15.0, 24.0));
        assert_eq!(s.aggregate(12, 20), None);
        assert_eq!(s.aggregate(11, 11), None);
        assert_eq!(Stat::parse("p99"), Some(Stat::Percentile(9900)));
    }

    #[test]
    fn periods_align_on_minutes_and_skip_empty_ones() {
        let mut s = Series::default();
        for minute in [100, 101, 102, 105] {
            s.add(minute, &Bucket::of(minute as f64, 1.0));
        }
        // Start 100:30 rounds down to minute 100; periods of 3 minutes: [100,103) [103,106).
        let got = periods(&s, 100.0 * 60.0 + 30.0, 106.0 * 60.0, 180, false);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 6000);
        assert_eq!(got[0].1.count, 3.0);
        assert_eq!(got[1], (103 * 60, Bucket::of(105.0, 1.0), None));
        // A period with no data gives no datapoint.
        assert!(periods(&s, 110.0 * 60.0, 120.0 * 60.0, 60, false).is_empty());
    }

    #[test]
    fn prune_drops_old_minutes() {
        let mut s = Series::default();
        for minute in 0..10 {
            s.add(minute, &Bucket::of(1.0, 1.0));
        }
        assert_eq!(s.prune(7), (7, 0));
        assert_eq!(s.buckets.keys().copied().collect::<Vec<_>>(), vec![7, 8, 9]);
    }

    #[test]
    fn percentiles_need_every_value_in_a_sketch() {
        let mut s = Series::default();
        for v in 1..=100 {
            s.add(1, &Bucket::of(f64::from(v), 1.0));
            s.add_sketch(1, &Sketch::of(f64::from(v), 1.0));
        }
        let p90 = s.value(Stat::parse("p90").unwrap(), 0, 2).unwrap();
        assert!((p90 - 90.0).abs() <= 1.8, "{p90}");
        assert_eq!(s.value(Stat::Maximum, 0, 2), Some(100.0));
        // A statistic set without its values in minute 2: no percentile over a range that covers it.
        s.add(2, &Bucket { count: 2.0, sum: 3.0, min: 1.0, max: 2.0 });
        assert_eq!(s.value(Stat::parse("p50").unwrap(), 0, 3), None);
        assert!(s.value(Stat::parse("p50").unwrap(), 0, 2).is_some());
        assert_eq!(Stat::parse("p99.9"), Some(Stat::Percentile(9990)));
        assert_eq!(Stat::parse("tm99"), None);
    }

    #[test]
    fn dimensions_are_a_set() {
        let a = SeriesKey::new("N", "m", vec![("b".into(), "1".into()), ("a".into(), "2".into())]);
        let b = SeriesKey::new("N", "m", vec![("a".into(), "2".into()), ("b".into(), "1".into())]);
        assert_eq!(a, b);
    }
}

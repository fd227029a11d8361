//! One metric series: its identity and its ring of 1-minute aggregates.
//!
//! A series is a namespace, a metric name and a set of dimensions (sorted by name, as CloudWatch treats them as a
//! set). Its data is one [`Bucket`] per minute that received a value, kept for [`RETENTION_MINUTES`]: the count,
//! sum, minimum and maximum of everything put in that minute, which is what every CloudWatch statistic but the
//! percentiles needs. A series holds at most one bucket per minute of its retention, so its memory is bounded.

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
}

impl Series {
    /// Adds an aggregate to a minute's bucket.
    pub fn add(&mut self, minute: i64, bucket: &Bucket) {
        self.buckets.entry(minute).and_modify(|b| b.merge(bucket)).or_insert(*bucket);
    }

    /// Drops buckets before `oldest_minute`; how many were dropped.
    pub fn prune(&mut self, oldest_minute: i64) -> usize {
        let keep = self.buckets.split_off(&oldest_minute);
        let dropped = self.buckets.len();
        self.buckets = keep;
        dropped
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
}

impl Stat {
    /// Parses a statistic name; `None` for percentiles and the other extended statistics.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "SampleCount" => Self::SampleCount,
            "Average" => Self::Average,
            "Sum" => Self::Sum,
            "Minimum" => Self::Minimum,
            "Maximum" => Self::Maximum,
            _ => return None,
        })
    }

    /// The statistic's value over an aggregate.
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
        }
    }
}

/// Splits `[start, end)` (epoch seconds) into periods of `period` seconds aligned on whole minutes from the start
/// rounded down, and aggregates each period that has data: `(period start, aggregate)`, oldest first.
pub fn periods(series: &Series, start: f64, end: f64, period: i64) -> Vec<(i64, Bucket)> {
    let period_minutes = (period / 60).max(1);
    let first = (start / 60.0).floor() as i64;
    let last = (end / 60.0).ceil() as i64;
    let mut out = Vec::new();
    let mut minute = first;
    while minute < last {
        let next = (minute + period_minutes).min(last);
        if let Some(b) = series.aggregate(minute, next) {
            out.push((minute * 60, b));
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
        assert_eq!(Stat::parse("p99"), None);
    }

    #[test]
    fn periods_align_on_minutes_and_skip_empty_ones() {
        let mut s = Series::default();
        for minute in [100, 101, 102, 105] {
            s.add(minute, &Bucket::of(minute as f64, 1.0));
        }
        // Start 100:30 rounds down to minute 100; periods of 3 minutes: [100,103) [103,106).
        let got = periods(&s, 100.0 * 60.0 + 30.0, 106.0 * 60.0, 180);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 6000);
        assert_eq!(got[0].1.count, 3.0);
        assert_eq!(got[1], (103 * 60, Bucket::of(105.0, 1.0)));
        // A period with no data gives no datapoint.
        assert!(periods(&s, 110.0 * 60.0, 120.0 * 60.0, 60).is_empty());
    }

    #[test]
    fn prune_drops_old_minutes() {
        let mut s = Series::default();
        for minute in 0..10 {
            s.add(minute, &Bucket::of(1.0, 1.0));
        }
        assert_eq!(s.prune(7), 7);
        assert_eq!(s.buckets.keys().copied().collect::<Vec<_>>(), vec![7, 8, 9]);
    }

    #[test]
    fn dimensions_are_a_set() {
        let a = SeriesKey::new("N", "m", vec![("b".into(), "1".into()), ("a".into(), "2".into())]);
        let b = SeriesKey::new("N", "m", vec![("a".into(), "2".into()), ("b".into(), "1".into())]);
        assert_eq!(a, b);
    }
}

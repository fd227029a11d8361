//! Percentile sketches: a minute's values in logarithmic bins (after DDSketch), so that percentiles can be computed
//! over any period with a relative error of at most 2%.
//!
//! A positive value `v` falls in bin `ceil(log_γ v)` with γ = 1.04, which holds the values in `(γ^(k-1), γ^k]`, and
//! is estimated as `2γ^k / (γ + 1)`; negative values mirror that, zero has a bin of its own. A minute keeps at most
//! [`MAX_BINS`] bins, which cover values within a factor of 12 of each other at full accuracy: past that, its
//! two lowest bins merge (so high percentiles, the ones alarms and dashboards use, stay within 2%, and only the
//! lowest values blur). Bins are `(u16 key, f32 count)`: 8 bytes each.

use serde::{Deserialize, Serialize};

/// γ: each bin's upper bound over its lower bound.
const GAMMA: f64 = 1.04;
/// The key of zero; positive values above it, negative ones below.
const ZERO: i32 = 32_768;
/// The offset of a bin index within its half (indexes run from about -4,600 to 6,400 for CloudWatch's range).
const OFFSET: i32 = 10_000;

/// Bins a minute keeps at most.
pub const MAX_BINS: usize = 64;

/// A minute's (or a period's) values, binned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    /// `(key, count)`, sorted by key (so by value).
    pub bins: Vec<(u16, f32)>,
}

fn key_of(value: f64) -> u16 {
    if value == 0.0 || !value.is_finite() {
        return ZERO as u16;
    }
    let index = (value.abs().ln() / GAMMA.ln()).ceil() as i32 + OFFSET;
    let index = index.clamp(1, ZERO - 1);
    let key = if value > 0.0 { ZERO + index } else { ZERO - index };
    key.clamp(0, i32::from(u16::MAX)) as u16
}

fn value_of(key: u16) -> f64 {
    let key = i32::from(key);
    if key == ZERO {
        return 0.0;
    }
    let index = (key - ZERO).abs() - OFFSET;
    let magnitude = 2.0 * GAMMA.powi(index) / (GAMMA + 1.0);
    if key > ZERO { magnitude } else { -magnitude }
}

impl Sketch {
    /// `count` copies of `value`.
    pub fn of(value: f64, count: f64) -> Self {
        Self { bins: vec![(key_of(value), count as f32)] }
    }

    /// How many values it holds.
    pub fn count(&self) -> f64 {
        self.bins.iter().map(|(_, c)| f64::from(*c)).sum()
    }

    /// Adds another sketch, keeping at most `max_bins` bins (the lowest merge first).
    pub fn merge(&mut self, other: &Sketch, max_bins: usize) {
        let (x, y) = (&self.bins, &other.bins);
        let mut merged: Vec<(u16, f32)> = Vec::with_capacity(x.len() + y.len());
        let (mut i, mut j) = (0, 0);
        while i < x.len() || j < y.len() {
            if j == y.len() || (i < x.len() && x[i].0 < y[j].0) {
                merged.push(x[i]);
                i += 1;
            } else if i == x.len() || y[j].0 < x[i].0 {
                merged.push(y[j]);
                j += 1;
            } else {
                merged.push((x[i].0, x[i].1 + y[j].1));
                i += 1;
                j += 1;
            }
        }
        while merged.len() > max_bins.max(1) {
            let (_, lowest) = merged.remove(0);
            merged[0].1 += lowest;
        }
        self.bins = merged;
    }

    /// The `q`-quantile (0 to 1): the estimate of the smallest value with at least `q` of the values at or below it.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total <= 0.0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total).max(f64::MIN_POSITIVE);
        let mut seen = 0.0;
        for (key, count) in &self.bins {
            seen += f64::from(*count);
            if seen >= rank - 1e-9 {
                return Some(value_of(*key));
            }
        }
        self.bins.last().map(|(k, _)| value_of(*k))
    }
}

/// Parses a percentile statistic (`p99`, `p99.9`, `p50`): its quantile (0 to 1). `None` for anything else.
pub fn parse_percentile(stat: &str) -> Option<f64> {
    let digits = stat.strip_prefix('p')?;
    let valid = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.split('.').nth(1).is_none_or(|d| !d.is_empty() && d.len() <= 2)
        && digits.matches('.').count() <= 1;
    let p: f64 = digits.parse().ok().filter(|_| valid)?;
    (0.0..=100.0).contains(&p).then_some(p / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_two_percent() {
        let mut s = Sketch::default();
        for v in 1..=1000 {
            s.merge(&Sketch::of(f64::from(v), 1.0), 4096);
        }
        for (q, want) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0), (1.0, 1000.0)] {
            let got = s.quantile(q).unwrap();
            assert!((got - want).abs() / want <= 0.021, "q{q}: {got} vs {want}");
        }
        assert_eq!(Sketch::default().quantile(0.5), None);
        assert_eq!(Sketch::of(0.0, 3.0).quantile(0.99), Some(0.0));
        let neg = Sketch::of(-50.0, 1.0);
        assert!((neg.quantile(0.5).unwrap() + 50.0).abs() < 1.0);
    }

    #[test]
    fn the_bin_cap_blurs_only_low_values() {
        let mut s = Sketch::default();
        for v in 1..=1000 {
            s.merge(&Sketch::of(f64::from(v), 1.0), MAX_BINS);
        }
        assert_eq!(s.bins.len(), MAX_BINS);
        assert_eq!(s.count(), 1000.0);
        let p99 = s.quantile(0.99).unwrap();
        assert!((p99 - 990.0).abs() / 990.0 <= 0.021, "{p99}");
        let p50 = s.quantile(0.5).unwrap();
        assert!((p50 - 500.0).abs() / 500.0 <= 0.021, "{p50}: within a factor of 12 of the top, still exact");
    }

    #[test]
    fn percentile_names() {
        assert_eq!(parse_percentile("p99"), Some(0.99));
        assert!((parse_percentile("p99.9").unwrap() - 0.999).abs() < 1e-12);
        assert_eq!(parse_percentile("p0"), Some(0.0));
        for bad in ["p", "p101", "p99.999", "tm99", "P99", "p9.9.9", "Average"] {
            assert_eq!(parse_percentile(bad), None, "{bad}");
        }
    }
}

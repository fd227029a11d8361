//! Alarm evaluation, pure: the datapoints of an alarm's last evaluation periods in, a state and its reason out.
//!
//! The rules follow CloudWatch's ("Evaluating an alarm", AWS-NOTES §8): the alarm looks at the last
//! `EvaluationPeriods` whole periods (N); it goes to ALARM when at least `DatapointsToAlarm` (M, default N) of
//! them breach, the breaching points needing not be consecutive. Missing periods are handled per
//! `TreatMissingData`: `breaching` and `notBreaching` fill them; `missing` (the default) and `ignore` leave them
//! out, and then the alarm decides from the points it has: ALARM if M of them breach, or if fewer than M exist and
//! every one breaches; otherwise OK. When every period is missing, `missing` gives INSUFFICIENT_DATA and `ignore`
//! keeps the current state. CloudWatch also widens the range it fetches when points are missing; Berth does not.

use crate::series::{Series, Stat};
use berth_model::cloudwatch::{ComparisonOperator, StateValue};

/// What an alarm evaluates, taken from its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The statistic.
    pub stat: Stat,
    /// The period in seconds (a multiple of 60).
    pub period: i64,
    /// N.
    pub evaluation_periods: i64,
    /// M.
    pub datapoints_to_alarm: i64,
    /// The threshold.
    pub threshold: f64,
    /// How values compare with it.
    pub comparison: ComparisonOperator,
    /// `missing`, `ignore`, `breaching` or `notBreaching`.
    pub treat_missing_data: String,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The new state (`None`: keep the current one).
    pub state: Option<StateValue>,
    /// The reason, in CloudWatch's words.
    pub reason: String,
    /// The reason as JSON (`StateReasonData`).
    pub reason_data: String,
}

impl Rule {
    /// Whether a value breaches.
    pub fn breaches(&self, value: f64) -> bool {
        match self.comparison {
            ComparisonOperator::GreaterThanOrEqualToThreshold => value >= self.threshold,
            ComparisonOperator::GreaterThanThreshold => value > self.threshold,
            ComparisonOperator::LessThanThreshold => value < self.threshold,
            ComparisonOperator::LessThanOrEqualToThreshold => value <= self.threshold,
            // Anomaly-detection operators are refused by PutMetricAlarm.
            _ => false,
        }
    }

    fn words(&self) -> &'static str {
        match self.comparison {
            ComparisonOperator::GreaterThanOrEqualToThreshold => "greater than or equal to",
            ComparisonOperator::GreaterThanThreshold => "greater than",
            ComparisonOperator::LessThanThreshold => "less than",
            ComparisonOperator::LessThanOrEqualToThreshold => "less than or equal to",
            _ => "compared with",
        }
    }

    /// The values of the last N whole periods before `now` (oldest first; `None` where a period has no data).
    pub fn datapoints(&self, series: Option<&Series>, now: f64) -> Vec<(i64, Option<f64>)> {
        let period = self.period.max(60);
        let end = (now as i64).div_euclid(period) * period;
        (0..self.evaluation_periods)
            .rev()
            .map(|k| {
                let start = end - (k + 1) * period;
                let value =
                    series.and_then(|s| s.value(self.stat, start.div_euclid(60), (start + period).div_euclid(60)));
                (start, value)
            })
            .collect()
    }

    /// Evaluates the datapoints of [`Rule::datapoints`].
    pub fn evaluate(&self, points: &[(i64, Option<f64>)]) -> Outcome {
        let m = self.datapoints_to_alarm.max(1) as usize;
        let fill = match self.treat_missing_data.as_str() {
            "breaching" => Some(true),
            "notBreaching" => Some(false),
            _ => None,
        };
        let judged: Vec<(i64, Option<f64>, bool)> = points
            .iter()
            .filter_map(|(t, v)| match (v, fill) {
                (Some(v), _) => Some((*t, Some(*v), self.breaches(*v))),
                (None, Some(b)) => Some((*t, None, b)),
                (None, None) => None,
            })
            .collect();
        let data = serde_json::json!({
            "version": "1.0",
            "statistic": self.stat.name(),
            "period": self.period,
            "recentDatapoints": points.iter().filter_map(|(_, v)| *v).collect::<Vec<f64>>(),
            "threshold": self.threshold,
            "evaluatedDatapoints": points.iter().map(|(t, v)| match v {
                Some(v) => serde_json::json!({"timestamp": t, "value": v}),
                None => serde_json::json!({"timestamp": t}),
            }).collect::<Vec<_>>(),
        })
        .to_string();
        if judged.is_empty() {
            let n = points.len();
            let plural = if n == 1 { "datapoint was" } else { "datapoints were" };
            let state = (self.treat_missing_data != "ignore").then_some(StateValue::InsufficientData);
            return Outcome { state, reason: format!("Insufficient Data: {n} {plural} unknown."), reason_data: data };
        }
        let breaching = judged.iter().filter(|(_, _, b)| *b).count();
        let alarm = breaching >= m || (judged.len() < m && breaching == judged.len());
        let shown: Vec<String> = judged
            .iter()
            .filter(|(_, _, b)| *b == alarm)
            .map(|(t, v, _)| match v {
                Some(v) => format!("{v:?} ({})", format_time(*t)),
                None => format!("missing ({})", format_time(*t)),
            })
            .collect();
        let (count, of) = (shown.len(), judged.len());
        let reason = if alarm {
            format!(
                "Threshold Crossed: {count} out of the last {of} datapoints [{}] {} {} the threshold ({:?}) (minimum {m} \
                 datapoint{} for OK -> ALARM transition).",
                shown.join(", "),
                if count == 1 { "was" } else { "were" },
                self.words(),
                self.threshold,
                if m == 1 { "" } else { "s" },
            )
        } else {
            format!(
                "Threshold Crossed: {count} out of the last {of} datapoints [{}] {} not {} the threshold ({:?}) \
                 (minimum 1 datapoint for ALARM -> OK transition).",
                shown.join(", "),
                if count == 1 { "was" } else { "were" },
                self.words(),
                self.threshold,
            )
        };
        let state = if alarm { StateValue::Alarm } else { StateValue::Ok };
        Outcome { state: Some(state), reason, reason_data: data }
    }
}

/// `dd/mm/yy HH:MM:SS` in UTC, as CloudWatch's reasons print datapoint times.
pub fn format_time(epoch_seconds: i64) -> String {
    let days = epoch_seconds.div_euclid(86_400);
    let secs = epoch_seconds.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    format!("{d:02}/{mo:02}/{:02} {:02}:{:02}:{:02}", y.rem_euclid(100), secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Bucket;

    fn rule(n: i64, m: i64, missing: &str) -> Rule {
        Rule {
            stat: Stat::Average,
            period: 60,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold: 10.0,
            comparison: ComparisonOperator::GreaterThanThreshold,
            treat_missing_data: missing.into(),
        }
    }

    fn pts(values: &[Option<f64>]) -> Vec<(i64, Option<f64>)> {
        values.iter().enumerate().map(|(i, v)| (i as i64 * 60, *v)).collect()
    }

    fn state(r: &Rule, values: &[Option<f64>]) -> Option<StateValue> {
        r.evaluate(&pts(values)).state
    }

    #[test]
    fn m_out_of_n_need_not_be_consecutive() {
        let r = rule(5, 3, "missing");
        assert_eq!(state(&r, &[Some(11.0), Some(1.0), Some(12.0), Some(1.0), Some(13.0)]), Some(StateValue::Alarm));
        assert_eq!(state(&r, &[Some(11.0), Some(1.0), Some(12.0), Some(1.0), Some(1.0)]), Some(StateValue::Ok));
        assert_eq!(state(&r, &[Some(10.0); 5]), Some(StateValue::Ok), "equal is not greater");
    }

    #[test]
    fn treat_missing_data() {
        let all_missing = [None, None, None];
        assert_eq!(state(&rule(3, 3, "missing"), &all_missing), Some(StateValue::InsufficientData));
        assert_eq!(state(&rule(3, 3, "ignore"), &all_missing), None, "ignore keeps the state");
        assert_eq!(state(&rule(3, 3, "breaching"), &all_missing), Some(StateValue::Alarm));
        assert_eq!(state(&rule(3, 3, "notBreaching"), &all_missing), Some(StateValue::Ok));
        // Two real breaching points and a gap: `missing` decides from what it has, `notBreaching` fills the gap.
        let gap = [Some(20.0), None, Some(20.0)];
        assert_eq!(state(&rule(3, 3, "missing"), &gap), Some(StateValue::Alarm));
        assert_eq!(state(&rule(3, 3, "notBreaching"), &gap), Some(StateValue::Ok));
        assert_eq!(state(&rule(3, 2, "notBreaching"), &gap), Some(StateValue::Alarm));
        assert_eq!(state(&rule(3, 3, "missing"), &[Some(1.0), None, None]), Some(StateValue::Ok));
    }

    #[test]
    fn reasons_read_like_cloudwatch() {
        let out = rule(1, 1, "missing").evaluate(&[(1_764_423_600, Some(15.0))]);
        assert_eq!(
            out.reason,
            "Threshold Crossed: 1 out of the last 1 datapoints [15.0 (29/11/25 13:40:00)] was greater than the \
             threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition)."
        );
        assert!(out.reason_data.contains("\"recentDatapoints\":[15.0]"), "{}", out.reason_data);
        assert_eq!(
            rule(2, 2, "missing").evaluate(&pts(&[None, None])).reason,
            "Insufficient Data: 2 datapoints were unknown."
        );
    }

    #[test]
    fn datapoints_are_the_last_whole_periods() {
        let mut s = Series::default();
        // Minutes 10..15 hold 10, 11, ... 14 (one value each).
        for minute in 10..15 {
            s.add(minute, &Bucket::of(minute as f64, 1.0));
        }
        let mut r = rule(2, 2, "missing");
        r.period = 120;
        // At 15:30 the last whole 2-minute periods are minutes [10,12) and [12,14); [14,16) is not over yet.
        let got = r.datapoints(Some(&s), 15.5 * 60.0);
        assert_eq!(got, vec![(600, Some(10.5)), (720, Some(12.5))]);
        assert_eq!(r.datapoints(None, 900.0), vec![(600, None), (720, None)]);
    }
}

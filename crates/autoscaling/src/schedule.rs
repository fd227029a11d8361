//! Schedule expressions of scheduled actions: `at(yyyy-mm-ddThh:mm:ss)`, `rate(N unit)` and
//! `cron(minutes hours day-of-month month day-of-week year)`, in an IANA time zone (UTC by default).
//!
//! [`Schedule::next_after`] gives the first run strictly after a moment; runs are at whole minutes (seconds of
//! `at()` are kept), as Application Auto Scaling's 1-minute resolution. A `rate()` counts from the action's
//! StartTime, or from its creation.

use crate::ScalingError;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Once, at this local date and time.
    At(DateTime),
    /// Every so many seconds.
    Rate(i64),
    /// A cron expression.
    Cron(Box<Cron>),
}

/// A cron expression's fields, each the set of values it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    /// Day of month `?`: only the day of week counts (and the reverse).
    days_any: bool,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    weekdays_any: bool,
    /// A `L` day of month: the last day.
    last_day: bool,
    years: Option<Vec<i16>>,
}

fn invalid(expression: &str) -> ScalingError {
    ScalingError::validation(format!("Unsupported schedule format: {expression}"))
}

impl Schedule {
    /// Parses an expression as PutScheduledAction takes it; AWS's ValidationException otherwise.
    pub fn parse(expression: &str) -> Result<Self, ScalingError> {
        let text = expression.trim();
        let inner = |prefix: &str| text.strip_prefix(prefix).and_then(|t| t.strip_suffix(')'));
        if let Some(at) = inner("at(") {
            let when: DateTime = at.parse().map_err(|_| invalid(expression))?;
            if at.len() != 19 {
                return Err(invalid(expression));
            }
            return Ok(Self::At(when));
        }
        if let Some(rate) = inner("rate(") {
            let mut parts = rate.split_whitespace();
            let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(invalid(expression));
            };
            let n: i64 = n.parse().map_err(|_| invalid(expression))?;
            let seconds = match (n, unit) {
                (1, "minute") | (2.., "minutes") => 60,
                (1, "hour") | (2.., "hours") => 3600,
                (1, "day") | (2.., "days") => 86_400,
                _ => return Err(invalid(expression)),
            };
            return Ok(Self::Rate(n * seconds));
        }
        if let Some(cron) = inner("cron(") {
            return Cron::parse(cron).map(|c| Self::Cron(Box::new(c))).ok_or_else(|| invalid(expression));
        }
        Err(invalid(expression))
    }

    /// The first run strictly after `after` (epoch seconds), in `zone`, counting a rate from `origin`; `None`
    /// when there is no further run.
    pub fn next_after(&self, after: f64, origin: f64, zone: &TimeZone) -> Option<f64> {
        match self {
            Self::At(when) => {
                let t = zone.to_timestamp(*when).ok()?.as_millisecond() as f64 / 1000.0;
                (t > after).then_some(t)
            }
            Self::Rate(every) => {
                let every = *every as f64;
                if after < origin {
                    return Some(origin);
                }
                let n = ((after - origin) / every).floor() + 1.0;
                Some(origin + n * every)
            }
            Self::Cron(cron) => cron.next_after(after, zone),
        }
    }
}

/// Parses a time zone name (IANA); UTC when absent.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, ScalingError> {
    match name {
        None | Some("") | Some("UTC") | Some("Etc/UTC") => Ok(TimeZone::UTC),
        Some(n) => TimeZone::get(n).map_err(|_| ScalingError::validation(format!("Invalid timezone: {n}"))),
    }
}

impl Cron {
    fn parse(text: &str) -> Option<Self> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 6 {
            return None;
        }
        let (days_any, weekdays_any) = (fields[2] == "?", fields[4] == "?");
        // One of day-of-month and day-of-week must be `?`, as in CloudWatch Events' cron.
        if days_any == weekdays_any {
            return None;
        }
        let last_day = fields[2] == "L";
        let days = if days_any || last_day { vec![true; 32] } else { field(fields[2], 1, 31, &[])? };
        let weekdays = if weekdays_any { vec![true; 8] } else { field(fields[4], 1, 7, WEEKDAYS)? };
        let years = if fields[5] == "*" {
            None
        } else {
            let set = field(fields[5], 1970, 2199, &[])?;
            Some(set.iter().enumerate().filter(|(_, on)| **on).map(|(y, _)| y as i16).collect())
        };
        Some(Self {
            minutes: field(fields[0], 0, 59, &[])?,
            hours: field(fields[1], 0, 23, &[])?,
            days,
            days_any,
            months: field(fields[3], 1, 12, MONTHS)?,
            weekdays,
            weekdays_any,
            last_day,
            years,
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        if !self.months[date.month() as usize] {
            return false;
        }
        if let Some(years) = &self.years
            && !years.contains(&date.year())
        {
            return false;
        }
        if self.weekdays_any {
            if self.last_day {
                return date.day() == date.days_in_month();
            }
            return self.days[date.day() as usize];
        }
        // Cron's day of week: 1 = Sunday ... 7 = Saturday.
        let dow = date.weekday().to_sunday_one_offset() as usize;
        self.days_any && self.weekdays[dow]
    }

    fn next_after(&self, after: f64, zone: &TimeZone) -> Option<f64> {
        let start = jiff::Timestamp::from_millisecond((after * 1000.0) as i64).ok()?;
        let local = start.to_zoned(zone.clone()).datetime();
        let mut date = local.date();
        // Four years of days is enough for any expression that matches at all (Feb 29 included).
        for _ in 0..(366 * 4 + 1) {
            if self.day_matches(date) {
                for hour in 0..24_i8 {
                    if !self.hours[hour as usize] {
                        continue;
                    }
                    for minute in 0..60_i8 {
                        if !self.minutes[minute as usize] {
                            continue;
                        }
                        let Ok(dt) = date.at(hour, minute, 0, 0).to_zoned(zone.clone()) else { continue };
                        let t = dt.timestamp().as_millisecond() as f64 / 1000.0;
                        if t > after {
                            return Some(t);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

const MONTHS: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One cron field: `*`, values, names, ranges `a-b` and steps `a/n`, `*/n`, `a-b/n`, comma-separated; a vector
/// indexed by value (`max + 1` long).
fn field(text: &str, min: usize, max: usize, names: &[&str]) -> Option<Vec<bool>> {
    let mut set = vec![false; max + 1];
    let value = |t: &str| -> Option<usize> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(t)) {
            return Some(min + i);
        }
        let v: usize = t.parse().ok()?;
        (min..=max).contains(&v).then_some(v)
    };
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<usize>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = match range {
            "*" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(r)?, max),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        if lo > hi {
            return None;
        }
        for v in (lo..=hi).step_by(step) {
            set[v] = true;
        }
    }
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> f64 {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond() as f64 / 1000.0
    }

    #[test]
    fn at_runs_once_at_its_local_time() {
        let s = Schedule::parse("at(2026-03-01T08:30:00)").unwrap();
        assert_eq!(s.next_after(ts("2026-01-01T00:00:00Z"), 0.0, &TimeZone::UTC), Some(ts("2026-03-01T08:30:00Z")));
        assert_eq!(s.next_after(ts("2026-03-01T08:30:00Z"), 0.0, &TimeZone::UTC), None);
        let paris = time_zone(Some("Europe/Paris")).unwrap();
        assert_eq!(s.next_after(ts("2026-01-01T00:00:00Z"), 0.0, &paris), Some(ts("2026-03-01T07:30:00Z")));
    }

    #[test]
    fn rate_counts_from_its_origin() {
        let s = Schedule::parse("rate(5 minutes)").unwrap();
        assert_eq!(s, Schedule::Rate(300));
        assert_eq!(s.next_after(1000.0, 1000.0, &TimeZone::UTC), Some(1300.0));
        assert_eq!(s.next_after(1299.0, 1000.0, &TimeZone::UTC), Some(1300.0));
        assert_eq!(s.next_after(500.0, 1000.0, &TimeZone::UTC), Some(1000.0));
        assert_eq!(Schedule::parse("rate(1 day)").unwrap(), Schedule::Rate(86_400));
    }

    #[test]
    fn cron_follows_fields_and_time_zones() {
        let s = Schedule::parse("cron(0 9 ? * MON-FRI *)").unwrap();
        // Saturday 2026-11-28 → Monday 2026-11-30 09:00 UTC.
        assert_eq!(s.next_after(ts("2026-11-28T10:00:00Z"), 0.0, &TimeZone::UTC), Some(ts("2026-11-30T09:00:00Z")));
        let ny = time_zone(Some("America/New_York")).unwrap();
        assert_eq!(s.next_after(ts("2026-11-28T10:00:00Z"), 0.0, &ny), Some(ts("2026-11-30T14:00:00Z")));
        // Summer time: 09:00 in New York is 13:00 UTC.
        assert_eq!(s.next_after(ts("2026-07-04T10:00:00Z"), 0.0, &ny), Some(ts("2026-07-06T13:00:00Z")));
        let every = Schedule::parse("cron(*/15 * * * ? *)").unwrap();
        assert_eq!(every.next_after(ts("2026-01-01T00:07:00Z"), 0.0, &TimeZone::UTC), Some(ts("2026-01-01T00:15:00Z")));
        let last = Schedule::parse("cron(0 0 L * ? *)").unwrap();
        assert_eq!(last.next_after(ts("2026-02-01T00:00:00Z"), 0.0, &TimeZone::UTC), Some(ts("2026-02-28T00:00:00Z")));
        let year = Schedule::parse("cron(0 0 1 1 ? 2027)").unwrap();
        assert_eq!(year.next_after(ts("2026-02-01T00:00:00Z"), 0.0, &TimeZone::UTC), Some(ts("2027-01-01T00:00:00Z")));
        assert_eq!(year.next_after(ts("2027-02-01T00:00:00Z"), 0.0, &TimeZone::UTC), None);
    }

    #[test]
    fn bad_expressions_are_refused_with_aws_error() {
        for bad in [
            "cron(0 9 * * * *)",
            "cron(61 * * * ? *)",
            "cron(0 9 ? * MON-FRI)",
            "rate(0 minutes)",
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(5 weeks)",
            "at(2026-13-01T00:00:00)",
            "at(2026-01-01)",
            "every 5 minutes",
        ] {
            let e = Schedule::parse(bad).unwrap_err();
            assert_eq!(e.exception, "ValidationException", "{bad}");
            assert!(e.message.contains(bad), "{bad}: {}", e.message);
        }
        assert!(time_zone(Some("Mars/Olympus")).is_err());
    }
}

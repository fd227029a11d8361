//! The `registeredAt` date formats: `2018-06-18T22:28:28+00:00`, `2018-06-18T22:28:28Z`,
//! `2018-06-18T22:28:28` (UTC) and `2018-06-18`; fractional seconds are accepted and dropped.

use berth_model::clock::days_from_civil;

/// A parsed date: epoch seconds and whether only a day was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Date {
    pub(crate) epoch_seconds: i64,
    pub(crate) date_only: bool,
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Reads exactly `n` ASCII digits at `*i`.
fn digits(b: &[u8], i: &mut usize, n: usize) -> Option<i64> {
    let slice = b.get(*i..*i + n)?;
    if !slice.iter().all(u8::is_ascii_digit) {
        return None;
    }
    *i += n;
    Some(slice.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    (b.get(*i) == Some(&c)).then(|| *i += 1)
}

/// Parses one of the accepted formats; `None` when `text` is not a valid date.
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    let mut i = 0;
    let year = digits(b, &mut i, 4)?;
    expect(b, &mut i, b'-')?;
    let month = digits(b, &mut i, 2)?;
    expect(b, &mut i, b'-')?;
    let day = digits(b, &mut i, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if i == b.len() {
        return Some(Date { epoch_seconds: days * 86_400, date_only: true });
    }
    if !matches!(b.get(i), Some(b'T' | b't')) {
        return None;
    }
    i += 1;
    let hour = digits(b, &mut i, 2)?;
    expect(b, &mut i, b':')?;
    let minute = digits(b, &mut i, 2)?;
    expect(b, &mut i, b':')?;
    let second = digits(b, &mut i, 2)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            i += 1;
            let oh = digits(b, &mut i, 2)?;
            if b.get(i) == Some(&b':') {
                i += 1;
            }
            let om = digits(b, &mut i, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if sign == b'+' { secs } else { -secs }
        }
        Some(_) => return None,
    };
    if i != b.len() {
        return None;
    }
    let epoch_seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(Date { epoch_seconds, date_only: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_format() {
        let full = parse_date("2018-06-18T22:28:28+00:00").unwrap();
        assert_eq!(full, Date { epoch_seconds: 1_529_360_908, date_only: false });
        assert_eq!(parse_date("2018-06-18T22:28:28Z").unwrap(), full);
        assert_eq!(parse_date("2018-06-18T22:28:28").unwrap(), full);
        assert_eq!(parse_date("2018-06-18T22:28:28.250Z").unwrap(), full);
        assert_eq!(parse_date("2018-06-19T00:28:28+02:00").unwrap(), full);
        assert_eq!(parse_date("2018-06-18T20:28:28-0200").unwrap(), full);
        assert_eq!(parse_date("2018-06-18").unwrap(), Date { epoch_seconds: 1_529_280_000, date_only: true });
        assert_eq!(parse_date("1970-01-01").unwrap().epoch_seconds, 0);
        assert_eq!(parse_date("2000-02-29").unwrap().epoch_seconds, 951_782_400);
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "",
            "2018",
            "2018-6-18",
            "2018-13-01",
            "2018-02-29",
            "2018-06-31",
            "2018-06-18T25:00:00",
            "2018-06-18T22:28",
            "2018-06-18 22:28:28",
            "2018-06-18T22:28:28+5",
            "2018-06-18T22:28:28Zx",
            "2018-06-18x",
            "yesterday",
            "2018-06-18T22:28:28.",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}

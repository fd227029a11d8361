//! Compose durations (`1m30s`, `10s`, `500ms`, `1h`): Go's duration syntax, as compose reads them.

/// Reads a duration into milliseconds: one or more `<number><unit>` groups with units `ns`, `us`, `ms`, `s`, `m`,
/// `h` (a number may have a fraction: `1.5s`), or a bare number of seconds.
pub fn parse_millis(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let error = || format!("{text:?} is not a duration such as 10s, 1m30s or 500ms");
    if text.is_empty() {
        return Err(error());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return seconds.checked_mul(1000).ok_or_else(error);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(error)?;
        if number_end == 0 {
            return Err(error());
        }
        let number: f64 = rest[..number_end].parse().map_err(|_| error())?;
        let after = &rest[number_end..];
        let unit_end = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let factor = match &after[..unit_end] {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return Err(error()),
        };
        total += number * factor;
        rest = &after[unit_end..];
    }
    if !total.is_finite() || total > 1e15 {
        return Err(error());
    }
    Ok(total.round() as u64)
}

/// Reads a duration into whole seconds, rounding a fraction up (ECS takes seconds): `1m30s` is 90, `500ms` is 1.
pub fn parse_seconds(text: &str) -> Result<u64, String> {
    parse_millis(text).map(|millis| millis.div_ceil(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_are_read() {
        assert_eq!(parse_millis("10s"), Ok(10_000));
        assert_eq!(parse_millis("1m30s"), Ok(90_000));
        assert_eq!(parse_millis("1h2m3s"), Ok(3_723_000));
        assert_eq!(parse_millis("500ms"), Ok(500));
        assert_eq!(parse_millis("1.5s"), Ok(1_500));
        assert_eq!(parse_millis("30"), Ok(30_000), "a bare number is seconds");
        assert_eq!(parse_seconds("1m30s"), Ok(90));
        assert_eq!(parse_seconds("500ms"), Ok(1), "rounded up to a whole second");
        assert_eq!(parse_seconds("0s"), Ok(0));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "s", "10x", "1m30", "-5s", "1..5s", "ten seconds", "5 s"] {
            assert!(parse_millis(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

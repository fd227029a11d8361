//! Compose's byte sizes (`512m`, `1g`, `1gb`, `100000`) and CPU counts (`0.5`), as ECS's MiB and CPU units.

/// Reads a byte size (a number with an optional unit `b`, `k`/`kb`, `m`/`mb`, `g`/`gb`, any case) into MiB,
/// rounded up: `512m` is 512, `1g` is 1024, `1000000` is 1.
pub fn parse_mib(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let error = || format!("{text:?} is not a size such as 512m or 1g");
    let lower = text.to_ascii_lowercase();
    let unit_at = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(unit_at);
    let number: f64 = number.parse().map_err(|_| error())?;
    let factor: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(error()),
    };
    let bytes = number * factor;
    if !bytes.is_finite() || bytes <= 0.0 || bytes > 1e18 {
        return Err(error());
    }
    Ok((bytes / (1024.0 * 1024.0)).ceil() as u64)
}

/// Reads a CPU count (`0.5`, `2`) into ECS CPU units (1024 per CPU), rounded.
pub fn parse_cpu_units(text: &str) -> Result<u64, String> {
    let cpus: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number of CPUs such as 0.5"))?;
    if !cpus.is_finite() || cpus <= 0.0 || cpus > 1024.0 {
        return Err(format!("{text:?} is not a number of CPUs between 0 and 1024"));
    }
    Ok(((cpus * 1024.0).round() as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_become_mib() {
        assert_eq!(parse_mib("512m"), Ok(512));
        assert_eq!(parse_mib("512M"), Ok(512));
        assert_eq!(parse_mib("1g"), Ok(1024));
        assert_eq!(parse_mib("1gb"), Ok(1024));
        assert_eq!(parse_mib("1.5g"), Ok(1536));
        assert_eq!(parse_mib("1000000"), Ok(1), "bytes, rounded up");
        assert_eq!(parse_mib("64k"), Ok(1));
        for bad in ["", "m", "12x", "-1m", "0"] {
            assert!(parse_mib(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cpus_become_units() {
        assert_eq!(parse_cpu_units("0.5"), Ok(512));
        assert_eq!(parse_cpu_units("2"), Ok(2048));
        assert_eq!(parse_cpu_units("0.25"), Ok(256));
        for bad in ["", "half", "-1", "0"] {
            assert!(parse_cpu_units(bad).is_err(), "{bad:?}");
        }
    }
}

//! Ordering of values for `>`, `>=`, `<`, `<=`: numbers numerically, everything else in "natural" order
//! (runs of digits compared as numbers), so versions compare as people expect (`1.9.0 < 1.14.5`).

use std::cmp::Ordering;

/// Compares two values: numerically when both are numbers, else naturally.
pub(crate) fn compare_values(a: &str, b: &str) -> Ordering {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => natural_cmp(a, b),
    }
}

/// Compares agent versions: an optional leading `v` is ignored, then natural order.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    natural_cmp(a.trim().trim_start_matches(['v', 'V']), b.trim().trim_start_matches(['v', 'V']))
}

/// Natural order: digit runs compare by numeric value (leading zeros ignored), other characters one by one.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let da = trim_zeros(&a[si..i]);
            let db = trim_zeros(&b[sj..j]);
            let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            let ord = a[i].cmp(&b[j]);
            if ord != Ordering::Equal {
                return ord;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n.min(d.len().saturating_sub(1))..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_naturally() {
        assert_eq!(compare_versions("1.9.0", "1.14.5"), Ordering::Less);
        assert_eq!(compare_versions("v1.14.5", "1.14.5"), Ordering::Equal);
        assert_eq!(compare_versions("1.14.10", "1.14.9"), Ordering::Greater);
        assert_eq!(compare_versions("1.14", "1.14.0"), Ordering::Less);
        assert_eq!(compare_versions("1.014.0", "1.14.0"), Ordering::Equal);
    }

    #[test]
    fn numbers_compare_numerically_and_text_naturally() {
        assert_eq!(compare_values("1.5", "1.25"), Ordering::Greater);
        assert_eq!(compare_values("10", "9"), Ordering::Greater);
        assert_eq!(compare_values("-3", "2"), Ordering::Less);
        assert_eq!(compare_values("m5.xlarge", "m5.large"), Ordering::Greater);
        assert_eq!(compare_values("node10", "node9"), Ordering::Greater);
        assert_eq!(compare_values("abc", "abc"), Ordering::Equal);
    }
}

//! Version ordering per ecosystem: dpkg (Debian, Ubuntu), apk (Alpine) and semver (crates.io, npm).

use std::cmp::Ordering;

/// Which ordering a version string follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Debian's `[epoch:]upstream[-revision]`.
    Dpkg,
    /// Alpine's apk versions (`1.2.3_rc1-r2`).
    Apk,
    /// Semantic versioning 2.0.
    Semver,
}

/// Compares two versions under a scheme.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Ordering {
    match scheme {
        Scheme::Dpkg => dpkg(a, b),
        Scheme::Apk => apk(a, b),
        Scheme::Semver => semver(a, b),
    }
}

// ---- dpkg -------------------------------------------------------------------------------------------------

fn split_dpkg(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// The weight of a character in dpkg's non-digit comparison: `~` first (before the end), then the end, then
/// letters, then everything else.
fn dpkg_order(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = dpkg_order(a.get(i).copied());
            let bc = dpkg_order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// dpkg's version comparison (`dpkg --compare-versions`).
pub fn dpkg(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_dpkg(a);
    let (eb, ub, rb) = split_dpkg(b);
    ea.cmp(&eb).then_with(|| verrevcmp(ua, ub)).then_with(|| verrevcmp(ra, rb))
}

// ---- apk --------------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
struct Apk {
    numbers: Vec<u64>,
    letter: u8,
    suffixes: Vec<(i32, u64)>,
    revision: u64,
}

fn suffix_rank(s: &str) -> Option<i32> {
    Some(match s {
        "alpha" => -4,
        "beta" => -3,
        "pre" => -2,
        "rc" => -1,
        "cvs" => 1,
        "svn" => 2,
        "git" => 3,
        "hg" => 4,
        "p" => 5,
        _ => return None,
    })
}

fn parse_apk(v: &str) -> Apk {
    let v = v.trim();
    let (main, revision) = match v.rsplit_once("-r") {
        Some((m, r)) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) => (m, r.parse().unwrap_or(0)),
        _ => (v, 0),
    };
    let mut parts = main.split('_');
    let head = parts.next().unwrap_or("");
    let mut numbers = Vec::new();
    let mut letter = 0u8;
    for (i, component) in head.split('.').enumerate() {
        let digits: String = component.chars().take_while(|c| c.is_ascii_digit()).collect();
        numbers.push(digits.parse().unwrap_or(0));
        let rest = &component[digits.len()..];
        if i == head.split('.').count() - 1 && rest.len() == 1 && rest.as_bytes()[0].is_ascii_lowercase() {
            letter = rest.as_bytes()[0];
        }
    }
    let suffixes = parts
        .map(|s| {
            let name: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            let n = s[name.len()..].parse().unwrap_or(0);
            (suffix_rank(&name).unwrap_or(0), n)
        })
        .collect();
    Apk { numbers, letter, suffixes, revision }
}

/// Alpine's apk version comparison (numbers, then a trailing letter, then `_suffix`es, then `-r` revision).
pub fn apk(a: &str, b: &str) -> Ordering {
    let (a, b) = (parse_apk(a), parse_apk(b));
    let len = a.numbers.len().max(b.numbers.len());
    for i in 0..len {
        match (a.numbers.get(i), b.numbers.get(i)) {
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            _ => {}
        }
    }
    a.letter.cmp(&b.letter).then_with(|| {
        let len = a.suffixes.len().max(b.suffixes.len());
        for i in 0..len {
            let x = a.suffixes.get(i).copied().unwrap_or((0, 0));
            let y = b.suffixes.get(i).copied().unwrap_or((0, 0));
            if x != y {
                return x.cmp(&y);
            }
        }
        a.revision.cmp(&b.revision)
    })
}

// ---- semver -----------------------------------------------------------------------------------------------

fn parse_semver(v: &str) -> (Vec<u64>, Vec<&str>) {
    let v = v.trim().trim_start_matches(['v', '=']);
    let v = v.split('+').next().unwrap_or("");
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, p.split('.').collect()),
        None => (v, Vec::new()),
    };
    let mut numbers: Vec<u64> = core.split('.').map(|n| n.parse().unwrap_or(0)).collect();
    numbers.resize(3.max(numbers.len()), 0);
    (numbers, pre)
}

/// Semantic-versioning 2.0 precedence (build metadata ignored; missing minor/patch read as 0).
pub fn semver(a: &str, b: &str) -> Ordering {
    let (na, pa) = parse_semver(a);
    let (nb, pb) = parse_semver(b);
    na.cmp(&nb).then_with(|| match (pa.is_empty(), pb.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            for (x, y) in pa.iter().zip(pb.iter()) {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            pa.len().cmp(&pb.len())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn dpkg_follows_debian_policy() {
        for (a, b, o) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.0-1", "1.0-2", Less),
            ("1:0.9", "2.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0a", "1.0", Greater),
            ("1.0+dfsg", "1.0", Greater),
            ("1.0+dfsg-1", "1.0-1", Greater),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("1.10", "1.9", Greater),
            ("1.001", "1.1", Equal),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("0:1.2", "1.2", Equal),
            ("7.88.1-10+deb12u5", "7.88.1-10+deb12u7", Less),
        ] {
            assert_eq!(dpkg(a, b), o, "{a} vs {b}");
            assert_eq!(dpkg(b, a), o.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn apk_follows_alpine() {
        for (a, b, o) in [
            ("1.2.3-r0", "1.2.3-r1", Less),
            ("1.2.3", "1.2.10", Less),
            ("1.2.3_rc1", "1.2.3", Less),
            ("1.2.3_alpha", "1.2.3_beta", Less),
            ("1.2.3_p1", "1.2.3", Greater),
            ("1.2.3a", "1.2.3", Greater),
            ("1.2.3a", "1.2.3b", Less),
            ("3.1.4-r5", "3.1.4-r5", Equal),
            ("1.36.1-r2", "1.36.1-r15", Less),
            ("1.0", "1.0.1", Less),
            ("2.0_rc1-r1", "2.0_rc1-r0", Greater),
        ] {
            assert_eq!(apk(a, b), o, "{a} vs {b}");
            assert_eq!(apk(b, a), o.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn semver_precedence() {
        for (a, b, o) in [
            ("1.0.0", "2.0.0", Less),
            ("1.10.0", "1.9.0", Greater),
            ("1.0.0-alpha", "1.0.0", Less),
            ("1.0.0-alpha", "1.0.0-alpha.1", Less),
            ("1.0.0-alpha.1", "1.0.0-alpha.beta", Less),
            ("1.0.0-beta.2", "1.0.0-beta.11", Less),
            ("1.0.0-rc.1", "1.0.0", Less),
            ("1.0.0+build", "1.0.0", Equal),
            ("v1.2", "1.2.0", Equal),
            ("0.4.19", "0.4.20", Less),
        ] {
            assert_eq!(semver(a, b), o, "{a} vs {b}");
            assert_eq!(semver(b, a), o.reverse(), "{b} vs {a}");
        }
    }
}

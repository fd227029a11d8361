//! A health check's success codes, as ELBv2 writes them: `200`, `200,302`, `200-299` (HTTP codes 200-499).

use crate::error::{LbError, invalid};

/// Parsed success codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matcher(Vec<(u16, u16)>);

impl Matcher {
    /// Parses a matcher.
    pub(crate) fn parse(text: &str) -> Result<Self, LbError> {
        let bad = || {
            invalid!(
                "health check matcher '{text}' must be codes or ranges of codes from 200 to 499, such as 200,302 or 200-299"
            )
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => {
                    (a.trim().parse::<u16>().map_err(|_| bad())?, b.trim().parse::<u16>().map_err(|_| bad())?)
                }
                None => {
                    let c = part.parse::<u16>().map_err(|_| bad())?;
                    (c, c)
                }
            };
            if !(200..=499).contains(&lo) || !(200..=499).contains(&hi) || lo > hi {
                return Err(bad());
            }
            ranges.push((lo, hi));
        }
        Ok(Self(ranges))
    }

    /// Whether `code` passes.
    pub(crate) fn accepts(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

#[cfg(test)]
mod tests {
    use super::Matcher;

    #[test]
    fn forms() {
        let m = Matcher::parse("200").unwrap();
        assert!(m.accepts(200) && !m.accepts(201));
        let m = Matcher::parse("200-299").unwrap();
        assert!(m.accepts(204) && !m.accepts(302));
        let m = Matcher::parse("200,302").unwrap();
        assert!(m.accepts(302) && !m.accepts(301));
        for bad in ["", "abc", "100", "500", "300-200", "200-", "200,,302"] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }
}

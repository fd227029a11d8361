//! EC2's request parameters: a form body (`Action=...&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-...`) decoded
//! into a map, with EC2's flattened lists (`Name.1`, `Name.2`, ...) read back.

use std::collections::BTreeMap;

/// The decoded parameters of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    /// Decodes an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let decode = |s: &str| {
            let plus = s.replace('+', " ");
            percent_encoding::percent_decode_str(&plus).decode_utf8_lossy().into_owned()
        };
        Params(
            text.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(pair), String::new()),
                })
                .collect(),
        )
    }

    /// One parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A flattened list `name.1`, `name.2`, ... (in index order, stopping at the first gap).
    pub fn list(&self, name: &str) -> Vec<String> {
        (1..).map_while(|i| self.0.get(&format!("{name}.{i}")).cloned()).collect()
    }

    /// The indexes `n` for which some `name.n.*` parameter exists, in order.
    pub fn indexes(&self, name: &str) -> Vec<usize> {
        let prefix = format!("{name}.");
        let mut out: Vec<usize> = self
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('.').next()?.parse().ok())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// `Filter.N.Name` with `Filter.N.Value.M`.
    pub fn filters(&self) -> Vec<(String, Vec<String>)> {
        self.indexes("Filter")
            .into_iter()
            .filter_map(|i| {
                let name = self.get(&format!("Filter.{i}.Name"))?.to_string();
                Some((name, self.list(&format!("Filter.{i}.Value"))))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_filters_are_read_back() {
        let p = Params::parse(b"Action=DescribeVpcs&Filter.1.Name=tag%3AName&Filter.1.Value.1=a+b&Filter.1.Value.2=c&GroupId.1=sg-1&GroupId.2=sg-2");
        assert_eq!(p.get("Action"), Some("DescribeVpcs"));
        assert_eq!(p.filters(), vec![("tag:Name".to_string(), vec!["a b".to_string(), "c".to_string()])]);
        assert_eq!(p.list("GroupId"), ["sg-1", "sg-2"]);
        assert_eq!(p.indexes("Filter"), [1]);
    }
}

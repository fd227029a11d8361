//! `maxResults` / `nextToken` paging over key-ordered listings.
//!
//! A token is the base64 of the last key returned, so paging is stable while items are added or removed: the next
//! page starts after that key.

use crate::{ControlError, Result};
use base64::Engine as _;

/// One page of a listing.
#[derive(Debug)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The token for the next page, when there is one.
    pub next_token: Option<String>,
}

/// Checks `maxResults` against ECS's bounds and returns the page size.
pub fn page_size(max_results: Option<i32>, default: usize, limit: usize) -> Result<usize> {
    match max_results {
        None => Ok(default),
        Some(n) if n >= 1 && (n as usize) <= limit => Ok(n as usize),
        Some(n) => Err(ControlError::invalid(format!("maxResults must be between 1 and {limit}, got {n}."))),
    }
}

/// Decodes a `nextToken` into the key to start after.
pub fn decode_token(token: Option<&str>) -> Result<Option<String>> {
    let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(None) };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .map_err(|_| ControlError::invalid("Invalid nextToken."))?;
    String::from_utf8(bytes).map(Some).map_err(|_| ControlError::invalid("Invalid nextToken."))
}

fn encode_token(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// Pages through `items`, which must be sorted ascending by their unique key.
pub fn paginate<T>(
    items: impl IntoIterator<Item = (String, T)>,
    next_token: Option<&str>,
    size: usize,
) -> Result<Page<T>> {
    paginate_ordered(items, next_token, size, false)
}

/// Pages through `items`, sorted by their unique key ascending, or descending when `descending`.
pub fn paginate_ordered<T>(
    items: impl IntoIterator<Item = (String, T)>,
    next_token: Option<&str>,
    size: usize,
    descending: bool,
) -> Result<Page<T>> {
    let after = decode_token(next_token)?;
    let mut out = Vec::with_capacity(size.min(128));
    let mut last_key = None;
    let mut more = false;
    for (key, item) in items {
        let seen = |a: &str| if descending { key.as_str() >= a } else { key.as_str() <= a };
        if after.as_deref().is_some_and(seen) {
            continue;
        }
        if out.len() == size {
            more = true;
            break;
        }
        last_key = Some(key);
        out.push(item);
    }
    let next_token = if more { last_key.map(|k| encode_token(&k)) } else { None };
    Ok(Page { items: out, next_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_through_everything_once() {
        let items: Vec<(String, usize)> = (0..25).map(|i| (format!("k{i:03}"), i)).collect();
        let mut token = None;
        let mut seen = Vec::new();
        loop {
            let page = paginate(items.clone(), token.as_deref(), 10).unwrap();
            seen.extend(page.items);
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn pages_descending() {
        let items: Vec<(String, usize)> = (0..5).rev().map(|i| (format!("k{i}"), i)).collect();
        let first = paginate_ordered(items.clone(), None, 2, true).unwrap();
        assert_eq!(first.items, vec![4, 3]);
        let second = paginate_ordered(items, first.next_token.as_deref(), 2, true).unwrap();
        assert_eq!(second.items, vec![2, 1]);
    }

    #[test]
    fn exact_multiple_has_no_trailing_token() {
        let items: Vec<(String, usize)> = (0..10).map(|i| (format!("k{i}"), i)).collect();
        let page = paginate(items, None, 10).unwrap();
        assert!(page.next_token.is_none());
    }

    #[test]
    fn rejects_bad_tokens_and_sizes() {
        assert!(decode_token(Some("%%%")).is_err());
        assert!(page_size(Some(0), 100, 100).is_err());
        assert!(page_size(Some(101), 100, 100).is_err());
        assert_eq!(page_size(None, 100, 100).unwrap(), 100);
    }
}

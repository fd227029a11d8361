//! Tag listing with `n` / `last` paging.

use super::{Query, json_response, next_link, paging, set};
use crate::Registry;
use crate::error::RegistryError;
use axum::response::Response;
use http::StatusCode;
use serde_json::json;

/// Takes up to `n` names after `last` from a sorted iterator; returns them and whether more follow.
pub(crate) fn page<'a>(
    sorted: impl Iterator<Item = &'a String>,
    n: Option<usize>,
    last: Option<&str>,
) -> (Vec<String>, bool) {
    let mut rest = sorted.filter(|t| last.is_none_or(|l| t.as_str() > l));
    let limit = n.unwrap_or(usize::MAX);
    let out: Vec<String> = rest.by_ref().take(limit).cloned().collect();
    let more = n.is_some() && limit > 0 && rest.next().is_some();
    (out, more)
}

/// GET `/v2/<name>/tags/list`.
pub(crate) fn list(registry: &Registry, name: &str, query: &Query) -> Result<Response, RegistryError> {
    let (n, last) = paging(query)?;
    let (tags, more) = {
        let state = registry.index.read();
        let entry = state.existing_repo(name)?;
        page(entry.tags.keys(), n, last.as_deref())
    };
    let body = json!({ "name": name, "tags": tags });
    let mut response = json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default());
    if more && let (Some(n), Some(last)) = (n, tags.last()) {
        set(&mut response, "link", &next_link(&format!("/v2/{name}/tags/list"), n, last));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_last_and_n() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(page(all.iter(), None, None), (all.clone(), false));
        assert_eq!(page(all.iter(), Some(2), None), (vec!["a".into(), "b".into()], true));
        assert_eq!(page(all.iter(), Some(2), Some("b")), (vec!["c".into(), "d".into()], false));
        assert_eq!(page(all.iter(), Some(0), None), (vec![], false));
        assert_eq!(page(all.iter(), None, Some("bb")), (vec!["c".into(), "d".into()], false));
    }
}

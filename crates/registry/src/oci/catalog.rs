//! `_catalog`: the repositories, with `n` / `last` paging.

use super::{Query, json_response, next_link, paging, set};
use crate::Registry;
use crate::error::RegistryError;
use axum::response::Response;
use http::StatusCode;
use serde_json::json;

/// GET `/v2/_catalog`.
pub(crate) fn list(registry: &Registry, query: &Query) -> Result<Response, RegistryError> {
    let (n, last) = paging(query)?;
    let (names, more) = {
        let state = registry.index.read();
        let existing = state.repos.iter().filter(|(_, r)| r.record.is_some()).map(|(k, _)| k);
        super::tags::page(existing, n, last.as_deref())
    };
    let body = json!({ "repositories": names });
    let mut response = json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default());
    if more && let (Some(n), Some(last)) = (n, names.last()) {
        set(&mut response, "link", &next_link("/v2/_catalog", n, last));
    }
    Ok(response)
}

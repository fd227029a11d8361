//! ListSecrets: filters (name, description, tag-key, tag-value, owning-service, primary-region, all; prefix
//! matches, `!` negates), planned deletions on request, sorting and paging.

use super::manage::{page_size, paged, versions_to_stages, wire_tags};
use super::records::{SECRETS_PREFIX, SecretRecord};
use crate::records;
use crate::{Secrets, SecretsError};
use berth_model::secretsmanager::*;

/// Whether one filter value matches a secret under the filter's key: a prefix match, negated by a leading `!`.
fn value_matches(secret: &SecretRecord, key: FilterNameStringType, value: &str) -> bool {
    let (negate, value) = match value.strip_prefix('!') {
        Some(v) => (true, v),
        None => (false, value),
    };
    let prefix = |field: &str| field.starts_with(value);
    let name = || prefix(&secret.name);
    let description = || secret.description.as_deref().is_some_and(prefix);
    let tag_key = || secret.tags.iter().any(|(k, _)| prefix(k));
    let tag_value = || secret.tags.iter().any(|(_, v)| prefix(v));
    let hit = match key {
        FilterNameStringType::Name => name(),
        FilterNameStringType::Description => description(),
        FilterNameStringType::TagKey => tag_key(),
        FilterNameStringType::TagValue => tag_value(),
        FilterNameStringType::PrimaryRegion | FilterNameStringType::OwningService => false,
        FilterNameStringType::All => name() || description() || tag_key() || tag_value(),
    };
    hit != negate
}

/// Every filter must match (values of one filter: any).
fn matches(secret: &SecretRecord, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let Some(key) = f.key else { return true };
        let values = f.values.as_deref().unwrap_or_default();
        values.is_empty() || values.iter().any(|v| value_matches(secret, key, v))
    })
}

fn check_filters(filters: &[Filter]) -> Result<(), SecretsError> {
    if filters.len() > 10 {
        return Err(SecretsError::constraint("filters", "Member must have length less than or equal to 10"));
    }
    for f in filters {
        if f.key.is_none() {
            return Err(SecretsError::new("InvalidParameterException", "Invalid filter key"));
        }
        for v in f.values.as_deref().unwrap_or_default() {
            crate::wire::check_len("filters.member.values.member", v, 1, 512)?;
        }
    }
    Ok(())
}

pub(crate) async fn list(s: &Secrets, req: ListSecretsRequest) -> Result<ListSecretsResponse, SecretsError> {
    let size = page_size(req.max_results)?;
    let filters = req.filters.unwrap_or_default();
    check_filters(&filters)?;
    let include_deleted = req.include_planned_deletion.unwrap_or(false);
    let now = s.now();
    let all: Vec<(String, SecretRecord)> = records::list(&s.store, SECRETS_PREFIX).await?;
    let mut secrets: Vec<SecretRecord> = all
        .into_iter()
        .map(|(_, secret)| secret)
        .filter(|secret| secret.purge_at.is_none_or(|at| at > now))
        .filter(|secret| include_deleted || secret.deleted.is_none())
        .filter(|secret| matches(secret, &filters))
        .collect();
    match req.sort_by {
        Some(SortByType::Name) => secrets.sort_by(|a, b| a.name.cmp(&b.name)),
        Some(SortByType::LastChangedDate) => secrets.sort_by(|a, b| a.last_changed.total_cmp(&b.last_changed)),
        Some(SortByType::LastAccessedDate) => {
            secrets.sort_by(|a, b| a.last_accessed.unwrap_or(0.0).total_cmp(&b.last_accessed.unwrap_or(0.0)))
        }
        _ => secrets.sort_by(|a, b| a.created.total_cmp(&b.created).then_with(|| a.name.cmp(&b.name))),
    }
    if req.sort_order == Some(SortOrderType::Desc) {
        secrets.reverse();
    }
    let entries = secrets
        .into_iter()
        .map(|secret| SecretListEntry {
            arn: Some(secret.arn.clone()),
            name: Some(secret.name.clone()),
            r#type: secret.secret_type.clone(),
            description: secret.description.clone(),
            kms_key_id: secret.kms_key_id.clone(),
            last_changed_date: Some(secret.last_changed),
            last_accessed_date: secret.last_accessed,
            deleted_date: secret.deleted,
            tags: wire_tags(&secret),
            secret_versions_to_stages: versions_to_stages(&secret),
            created_date: Some(secret.created),
            ..Default::default()
        })
        .collect();
    let (secret_list, next_token) = paged(entries, req.next_token.as_deref(), size)?;
    Ok(ListSecretsResponse { secret_list: Some(secret_list), next_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, description: Option<&str>, tags: &[(&str, &str)]) -> SecretRecord {
        SecretRecord {
            schema: 1,
            name: name.into(),
            arn: String::new(),
            description: description.map(str::to_string),
            kms_key_id: None,
            secret_type: None,
            created: 0.0,
            last_changed: 0.0,
            last_accessed: None,
            deleted: None,
            purge_at: None,
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            versions: Default::default(),
            policy: None,
        }
    }

    fn filter(key: FilterNameStringType, values: &[&str]) -> Filter {
        Filter { key: Some(key), values: Some(values.iter().map(|v| v.to_string()).collect()) }
    }

    #[test]
    fn filters_match_prefixes_negate_with_bang_and_combine_with_and() {
        let s = secret("prod/db", Some("database password"), &[("team", "payments")]);
        assert!(matches(&s, &[filter(FilterNameStringType::Name, &["prod/"])]));
        assert!(!matches(&s, &[filter(FilterNameStringType::Name, &["db"])]));
        assert!(matches(&s, &[filter(FilterNameStringType::Name, &["!dev"])]));
        assert!(matches(&s, &[filter(FilterNameStringType::Name, &["dev", "prod"])]));
        assert!(matches(&s, &[filter(FilterNameStringType::TagKey, &["te"])]));
        assert!(matches(&s, &[filter(FilterNameStringType::TagValue, &["pay"])]));
        assert!(matches(&s, &[filter(FilterNameStringType::All, &["data"])]));
        assert!(!matches(
            &s,
            &[filter(FilterNameStringType::Name, &["prod"]), filter(FilterNameStringType::Description, &["x"])]
        ));
    }
}

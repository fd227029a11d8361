//! GetParametersByPath, DescribeParameters and GetParameterHistory, with the parameter filters they share.

use super::not_found;
use super::ops::wire_parameter;
use super::records::{PARAMS_PREFIX, ParamRecord, VersionRecord};
use crate::records;
use crate::{Secrets, SecretsError};
use berth_model::ssm::*;

fn page_size(max: Option<i32>, limit: i32) -> Result<usize, SecretsError> {
    match max {
        None => Ok(limit as usize),
        Some(n) if (1..=limit).contains(&n) => Ok(n as usize),
        Some(_) => Err(SecretsError::constraint(
            "maxResults",
            &format!("Member must have value less than or equal to {limit}"),
        )),
    }
}

fn paged<T>(items: Vec<T>, token: Option<&str>, size: usize) -> Result<(Vec<T>, Option<String>), SecretsError> {
    records::page(items, token, size)
        .ok_or_else(|| SecretsError::new("InvalidNextToken", "The specified token isn't valid."))
}

/// Whether `name` is under `path` (`Recursive`: at any depth; else one level down).
fn under(name: &str, path: &str, recursive: bool) -> bool {
    let path = if path.ends_with('/') { path.to_string() } else { format!("{path}/") };
    let Some(rest) = name.strip_prefix(&path) else { return false };
    !rest.is_empty() && (recursive || !rest.contains('/'))
}

fn invalid_filter(message: impl Into<String>) -> SecretsError {
    SecretsError::new("InvalidFilterKey", message)
}

/// Checks a ParameterStringFilter's key and option against those `allowed`.
fn check_filter(f: &ParameterStringFilter, allowed: &[&str]) -> Result<(), SecretsError> {
    let key = f.key.as_str();
    if !(allowed.contains(&key) || (allowed.contains(&"tag:") && key.starts_with("tag:"))) {
        return Err(invalid_filter(format!(
            "The following filter key is not valid: {key}. Valid filter keys include: [{}].",
            allowed.join(", ")
        )));
    }
    let option = f.option.as_deref().unwrap_or("Equals");
    let ok = match key {
        "Name" => ["Equals", "BeginsWith", "Contains"].contains(&option),
        "Path" => ["Recursive", "OneLevel"].contains(&option),
        k if k.starts_with("tag:") => ["Equals", "BeginsWith"].contains(&option),
        _ => option == "Equals",
    };
    if !ok {
        return Err(SecretsError::new(
            "InvalidFilterOption",
            format!("The filter option {option} is not valid for key {key}."),
        ));
    }
    Ok(())
}

/// Whether a parameter (at its `version`) passes a ParameterStringFilter.
fn passes(param: &ParamRecord, version: &VersionRecord, f: &ParameterStringFilter) -> bool {
    let values = f.values.as_deref().unwrap_or_default();
    let option = f.option.as_deref().unwrap_or("Equals");
    let test = |field: &str| {
        values.iter().any(|v| match option {
            "BeginsWith" => field.starts_with(v.as_str()),
            "Contains" => field.contains(v.as_str()),
            _ => field == v,
        })
    };
    match f.key.as_str() {
        "Name" => {
            // Names match with or without their leading slash, as Parameter Store does.
            let bare = param.name.trim_start_matches('/');
            values.iter().any(|v| {
                let v = v.trim_start_matches('/');
                match option {
                    "BeginsWith" => bare.starts_with(v),
                    "Contains" => bare.contains(v),
                    _ => bare == v,
                }
            })
        }
        "Type" => test(&version.param_type),
        "KeyId" => version.key_id.as_deref().is_some_and(test),
        "Tier" => test(&version.tier),
        "DataType" => test(&version.data_type),
        "Label" => param.versions.iter().any(|v| v.labels.iter().any(|l| test(l))),
        "Path" => values.iter().any(|p| under(&param.name, p, option == "Recursive")),
        key => match key.strip_prefix("tag:") {
            Some(tag) => param.tags.iter().any(|(k, v)| k == tag && (values.is_empty() || test(v))),
            None => false,
        },
    }
}

async fn all_params(s: &Secrets) -> Result<Vec<ParamRecord>, SecretsError> {
    Ok(records::list::<ParamRecord>(&s.store, PARAMS_PREFIX).await?.into_iter().map(|(_, p)| p).collect())
}

pub(crate) async fn by_path(
    s: &Secrets,
    req: GetParametersByPathRequest,
) -> Result<GetParametersByPathResult, SecretsError> {
    if !req.path.starts_with('/') {
        return Err(SecretsError::validation(
            "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".",
        ));
    }
    if req.path.matches('/').count() > super::MAX_DEPTH {
        return Err(SecretsError::new(
            "HierarchyLevelLimitExceededException",
            "A hierarchy can have a maximum of 15 levels.",
        ));
    }
    let size = page_size(req.max_results, 10)?;
    let filters = req.parameter_filters.unwrap_or_default();
    for f in &filters {
        check_filter(f, &["Type", "KeyId", "Label", "tag:"])?;
    }
    let mut matched = Vec::new();
    for param in all_params(s).await? {
        let Some(latest) = param.latest() else { continue };
        if (req.path == "/" && (req.recursive || !param.name.trim_start_matches('/').contains('/'))
            || under(&param.name, &req.path, req.recursive))
            && filters.iter().all(|f| passes(&param, latest, f))
        {
            matched.push(param);
        }
    }
    let (page, next_token) = paged(matched, req.next_token.as_deref(), size)?;
    let mut parameters = Vec::with_capacity(page.len());
    for param in &page {
        if let Some(latest) = param.latest() {
            parameters.push(wire_parameter(s, param, latest, req.with_decryption, None).await?);
        }
    }
    Ok(GetParametersByPathResult { parameters: Some(parameters), next_token })
}

fn metadata(param: &ParamRecord, v: &VersionRecord) -> ParameterMetadata {
    ParameterMetadata {
        name: Some(param.name.clone()),
        arn: Some(param.arn.clone()),
        r#type: ParameterType::parse(&v.param_type),
        key_id: v.key_id.clone(),
        last_modified_date: Some(v.modified),
        last_modified_user: Some("arn:aws:iam::root".replace("::", &format!("::{}:", account(param)))),
        description: v.description.clone(),
        allowed_pattern: v.allowed_pattern.clone(),
        version: Some(v.version),
        tier: ParameterTier::parse(&v.tier),
        policies: Some(Vec::new()),
        data_type: Some(v.data_type.clone()),
    }
}

/// The account in a parameter's ARN.
fn account(param: &ParamRecord) -> &str {
    param.arn.split(':').nth(4).unwrap_or_default()
}

pub(crate) async fn describe(
    s: &Secrets,
    req: DescribeParametersRequest,
) -> Result<DescribeParametersResult, SecretsError> {
    if req.shared {
        return Err(SecretsError::validation("Shared parameters are not supported by Berth."));
    }
    let size = page_size(req.max_results, 50)?;
    let old = req.filters.unwrap_or_default();
    let filters = req.parameter_filters.unwrap_or_default();
    if !old.is_empty() && !filters.is_empty() {
        return Err(SecretsError::new(
            "InvalidFilterKey",
            "You can use either Filters or ParameterFilters in a single request.",
        ));
    }
    for f in &filters {
        check_filter(f, &["Name", "Type", "KeyId", "Path", "Tier", "DataType", "Label", "tag:"])?;
    }
    // The older Filters: Name (begins with), Type, KeyId (equal).
    let converted: Vec<ParameterStringFilter> = old
        .into_iter()
        .map(|f| ParameterStringFilter {
            option: Some(if f.key == ParametersFilterKey::Name { "BeginsWith" } else { "Equals" }.to_string()),
            key: f.key.as_str().to_string(),
            values: Some(f.values),
        })
        .collect();
    let mut matched = Vec::new();
    for param in all_params(s).await? {
        let Some(latest) = param.latest() else { continue };
        if filters.iter().chain(&converted).all(|f| passes(&param, latest, f)) {
            matched.push(metadata(&param, latest));
        }
    }
    let (parameters, next_token) = paged(matched, req.next_token.as_deref(), size)?;
    Ok(DescribeParametersResult { parameters: Some(parameters), next_token })
}

pub(crate) async fn history(
    s: &Secrets,
    req: GetParameterHistoryRequest,
) -> Result<GetParameterHistoryResult, SecretsError> {
    let size = page_size(req.max_results, 50)?;
    let (param, _) = s.find_param(&req.name).await?.ok_or_else(not_found)?;
    let (page, next_token) = paged(param.versions.clone(), req.next_token.as_deref(), size)?;
    let mut parameters = Vec::with_capacity(page.len());
    for v in &page {
        let value = s.param_value(&param, v, req.with_decryption).await?;
        let meta = metadata(&param, v);
        parameters.push(ParameterHistory {
            name: meta.name,
            r#type: meta.r#type,
            key_id: meta.key_id,
            last_modified_date: meta.last_modified_date,
            last_modified_user: meta.last_modified_user,
            description: meta.description,
            value: Some(value.to_string()),
            allowed_pattern: meta.allowed_pattern,
            version: meta.version,
            labels: Some(v.labels.clone()),
            tier: meta.tier,
            policies: meta.policies,
            data_type: meta.data_type,
        });
    }
    Ok(GetParameterHistoryResult { parameters: Some(parameters), next_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_one_level_or_recursively() {
        assert!(under("/app/db", "/app", false));
        assert!(under("/app/db", "/app/", false));
        assert!(!under("/app/prod/db", "/app", false));
        assert!(under("/app/prod/db", "/app", true));
        assert!(!under("/application/db", "/app", true));
        assert!(!under("/app", "/app", true));
    }

    #[test]
    fn filters_check_their_keys_and_options() {
        let f = |key: &str, option: Option<&str>| ParameterStringFilter {
            key: key.into(),
            option: option.map(str::to_string),
            values: Some(vec!["x".into()]),
        };
        assert!(check_filter(&f("Type", None), &["Type"]).is_ok());
        assert_eq!(check_filter(&f("Bogus", None), &["Type"]).unwrap_err().exception, "InvalidFilterKey");
        assert_eq!(
            check_filter(&f("Type", Some("BeginsWith")), &["Type"]).unwrap_err().exception,
            "InvalidFilterOption"
        );
        assert!(check_filter(&f("tag:env", None), &["tag:"]).is_ok());
        assert!(check_filter(&f("Name", Some("Contains")), &["Name"]).is_ok());
    }
}

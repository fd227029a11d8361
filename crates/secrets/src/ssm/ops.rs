//! PutParameter, GetParameter(s), DeleteParameter(s), and the dispatch of every SSM operation.

use super::records::{ParamRecord, VersionRecord, param_key, value_key, values_prefix};
use super::{Selector, check_name, not_found, select, split_selector};
use crate::records::{self, SCHEMA, encode};
use crate::wire::{out, parse};
use crate::{Secrets, SecretsError};
use berth_model::ssm::*;
use berth_store::Txn;

/// Versions kept per parameter.
pub const MAX_VERSIONS: usize = 100;
/// The largest Standard value, in characters.
pub const STANDARD_MAX: usize = 4096;
/// The largest Advanced value, in characters.
pub const ADVANCED_MAX: usize = 8192;

/// Runs one SSM operation.
pub(crate) async fn dispatch(s: &Secrets, operation: &str, input: &[u8]) -> Result<Vec<u8>, SecretsError> {
    use super::{labels, query, tags};
    match operation {
        "PutParameter" => out(put(s, parse(input)?).await?),
        "GetParameter" => out(get(s, parse(input)?).await?),
        "GetParameters" => out(get_many(s, parse(input)?).await?),
        "DeleteParameter" => out(delete(s, parse(input)?).await?),
        "DeleteParameters" => out(delete_many(s, parse(input)?).await?),
        "GetParametersByPath" => out(query::by_path(s, parse(input)?).await?),
        "DescribeParameters" => out(query::describe(s, parse(input)?).await?),
        "GetParameterHistory" => out(query::history(s, parse(input)?).await?),
        "LabelParameterVersion" => out(labels::label(s, parse(input)?).await?),
        "UnlabelParameterVersion" => out(labels::unlabel(s, parse(input)?).await?),
        "AddTagsToResource" => out(tags::add(s, parse(input)?).await?),
        "ListTagsForResource" => out(tags::list(s, parse(input)?).await?),
        "RemoveTagsFromResource" => out(tags::remove(s, parse(input)?).await?),
        op if OPERATIONS.contains(&op) => Err(SecretsError::new(
            "ValidationException",
            format!("{op} is not supported by Berth: only SSM Parameter Store operations are served."),
        )),
        op => Err(SecretsError::unknown_operation(op)),
    }
}

/// A version as GetParameter shows it.
pub(crate) async fn wire_parameter(
    s: &Secrets,
    param: &ParamRecord,
    version: &VersionRecord,
    decrypt: bool,
    selector: Option<String>,
) -> Result<Parameter, SecretsError> {
    let value = s.param_value(param, version, decrypt).await?;
    Ok(Parameter {
        name: Some(param.name.clone()),
        r#type: ParameterType::parse(&version.param_type),
        value: Some(value.to_string()),
        version: Some(version.version),
        selector,
        last_modified_date: Some(version.modified),
        arn: Some(param.arn.clone()),
        data_type: Some(version.data_type.clone()),
        ..Default::default()
    })
}

fn tier_error(max: usize) -> SecretsError {
    if max == STANDARD_MAX {
        SecretsError::validation(
            "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html",
        )
    } else {
        SecretsError::validation("Advanced tier parameters support a maximum parameter value of 8192 characters.")
    }
}

/// The tier a put gets: as asked (Intelligent-Tiering: Standard unless the value needs Advanced), never a downgrade.
fn choose_tier(asked: Option<ParameterTier>, previous: Option<&str>, length: usize) -> Result<String, SecretsError> {
    let advanced_before = previous == Some("Advanced");
    let tier = match asked {
        Some(ParameterTier::Advanced) => "Advanced",
        Some(ParameterTier::Standard) if advanced_before => {
            return Err(SecretsError::validation(
                "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.",
            ));
        }
        Some(ParameterTier::Standard) => "Standard",
        Some(ParameterTier::IntelligentTiering) | None if advanced_before || length > STANDARD_MAX => {
            if asked.is_none() && !advanced_before {
                return Err(tier_error(STANDARD_MAX));
            }
            "Advanced"
        }
        Some(ParameterTier::IntelligentTiering) | None => "Standard",
    };
    let max = if tier == "Advanced" { ADVANCED_MAX } else { STANDARD_MAX };
    if length > max {
        return Err(tier_error(max));
    }
    Ok(tier.to_string())
}

async fn put(s: &Secrets, req: PutParameterRequest) -> Result<PutParameterResult, SecretsError> {
    check_name(&req.name)?;
    let value = zeroize::Zeroizing::new(req.value);
    if value.is_empty() {
        return Err(SecretsError::constraint("value", "Member must have length greater than or equal to 1"));
    }
    if req.policies.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(SecretsError::validation("Parameter policies are not supported by Berth."));
    }
    let data_type = req.data_type.filter(|d| !d.is_empty()).unwrap_or_else(|| "text".to_string());
    if data_type != "text" {
        return Err(SecretsError::validation(format!(
            "The data type {data_type} is not supported by Berth (only text)."
        )));
    }
    let tags = req.tags.unwrap_or_default();
    if req.overwrite && !tags.is_empty() {
        return Err(SecretsError::validation(
            "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
        ));
    }
    if let Some(d) = &req.description {
        crate::wire::check_len("description", d, 0, 1024)?;
    }
    if let Some(pattern) = req.allowed_pattern.as_deref().filter(|p| !p.is_empty()) {
        crate::wire::check_len("allowedPattern", pattern, 0, 1024)?;
        let re = regex::Regex::new(pattern).map_err(|_| {
            SecretsError::new("InvalidAllowedPatternException", format!("The pattern {pattern} is not valid."))
        })?;
        if !re.is_match(&value) {
            return Err(SecretsError::new(
                "ParameterPatternMismatchException",
                format!("Parameter value, cannot be validated against allowedPattern: {pattern}"),
            ));
        }
    }
    let key_id = req.key_id.filter(|k| !k.is_empty());
    let _writes = s.writes.lock().await;
    let existing = s.find_param(&req.name).await?;
    let previous = existing.as_ref().and_then(|(p, _)| p.latest().cloned());
    if existing.is_some() && !req.overwrite {
        return Err(SecretsError::new(
            "ParameterAlreadyExists",
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
        ));
    }
    let param_type = match (req.r#type, &previous) {
        (Some(t), _) => t.as_str().to_string(),
        (None, Some(p)) => p.param_type.clone(),
        (None, None) => "String".to_string(),
    };
    if key_id.is_some() && param_type != "SecureString" {
        return Err(SecretsError::validation("KeyId is required for SecureString type parameter only."));
    }
    let key_id = match (&*param_type, key_id) {
        ("SecureString", Some(k)) => Some(k),
        ("SecureString", None) => Some(crate::kms::SSM_ALIAS.to_string()),
        _ => None,
    };
    let tier = choose_tier(req.tier, previous.as_ref().map(|p| p.tier.as_str()), value.chars().count())?;
    let (mut param, revision) = match existing {
        Some(found) => found,
        None => {
            let record = ParamRecord {
                schema: SCHEMA,
                arn: s.parameter_arn(&req.name),
                name: req.name.clone(),
                tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
                versions: Vec::new(),
            };
            (record, 0)
        }
    };
    if param.tags.len() > 50 {
        return Err(SecretsError::validation("A parameter can have at most 50 tags."));
    }
    let version = VersionRecord {
        version: previous.as_ref().map_or(1, |p| p.version + 1),
        param_type,
        key_id,
        description: match req.description {
            Some(d) => Some(d).filter(|d| !d.is_empty()),
            None => previous.as_ref().and_then(|p| p.description.clone()),
        },
        allowed_pattern: match req.allowed_pattern {
            Some(p) => Some(p).filter(|p| !p.is_empty()),
            None => previous.as_ref().and_then(|p| p.allowed_pattern.clone()),
        },
        tier: tier.clone(),
        data_type,
        modified: s.now(),
        labels: Vec::new(),
    };
    let sealed = s.seal_param_value(&param.arn, &version, &value).await?;
    let mut txn = Txn::new().put(value_key(&param.name, version.version), encode(&sealed)?);
    if param.versions.len() >= MAX_VERSIONS {
        let oldest = &param.versions[0];
        if !oldest.labels.is_empty() {
            return Err(SecretsError::new(
                "ParameterMaxVersionLimitExceeded",
                format!(
                    "You attempted to create a new version of {} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                    param.name, oldest.version
                ),
            ));
        }
        txn = txn.delete(value_key(&param.name, oldest.version));
        param.versions.remove(0);
    }
    let number = version.version;
    param.versions.push(version);
    let key = param_key(&param.name);
    txn = txn.expect(key.clone(), revision).put(key, encode(&param)?);
    records::commit_or_conflict(&s.store, txn).await?;
    Ok(PutParameterResult { version: Some(number), tier: ParameterTier::parse(&tier) })
}

/// A name with its selector, the parameter and the version it picks.
async fn lookup(s: &Secrets, text: &str) -> Result<(ParamRecord, VersionRecord, Option<String>), SecretsError> {
    let (name, selector) = split_selector(text);
    let (param, _) = s.find_param(name).await?.ok_or_else(not_found)?;
    let version = select(&param, &selector)?.clone();
    let shown = match selector {
        Selector::Latest => None,
        _ => Some(text[name.len()..].to_string()),
    };
    Ok((param, version, shown))
}

async fn get(s: &Secrets, req: GetParameterRequest) -> Result<GetParameterResult, SecretsError> {
    crate::wire::check_len("name", &req.name, 1, 2048)?;
    let (param, version, selector) = lookup(s, &req.name).await?;
    let parameter = wire_parameter(s, &param, &version, req.with_decryption, selector).await?;
    Ok(GetParameterResult { parameter: Some(parameter) })
}

async fn get_many(s: &Secrets, req: GetParametersRequest) -> Result<GetParametersResult, SecretsError> {
    if req.names.is_empty() || req.names.len() > 10 {
        return Err(SecretsError::constraint("names", "Member must have length less than or equal to 10"));
    }
    let mut parameters = Vec::new();
    let mut invalid = Vec::new();
    for name in &req.names {
        match lookup(s, name).await {
            Ok((param, version, selector)) => {
                parameters.push(wire_parameter(s, &param, &version, req.with_decryption, selector).await?)
            }
            Err(e) if e.exception == "ParameterNotFound" || e.exception == "ParameterVersionNotFound" => {
                invalid.push(name.clone())
            }
            Err(e) => return Err(e),
        }
    }
    Ok(GetParametersResult { parameters: Some(parameters), invalid_parameters: Some(invalid) })
}

/// Deletes a parameter and its values.
async fn remove(s: &Secrets, name: &str) -> Result<bool, SecretsError> {
    let Some((param, revision)) = s.find_param(name).await? else { return Ok(false) };
    let key = param_key(&param.name);
    let mut txn = Txn::new().expect(key.clone(), revision).delete(key);
    for kv in s.store.range(&values_prefix(&param.name)).await?.kvs {
        txn = txn.delete(kv.key);
    }
    records::commit_or_conflict(&s.store, txn).await?;
    Ok(true)
}

async fn delete(s: &Secrets, req: DeleteParameterRequest) -> Result<crate::wire::Empty, SecretsError> {
    let _writes = s.writes.lock().await;
    if remove(s, &req.name).await? { Ok(crate::wire::Empty {}) } else { Err(not_found()) }
}

async fn delete_many(s: &Secrets, req: DeleteParametersRequest) -> Result<DeleteParametersResult, SecretsError> {
    if req.names.is_empty() || req.names.len() > 10 {
        return Err(SecretsError::constraint("names", "Member must have length less than or equal to 10"));
    }
    let _writes = s.writes.lock().await;
    let (mut deleted, mut invalid) = (Vec::new(), Vec::new());
    for name in req.names {
        if remove(s, &name).await? {
            deleted.push(name);
        } else {
            invalid.push(name);
        }
    }
    Ok(DeleteParametersResult { deleted_parameters: Some(deleted), invalid_parameters: Some(invalid) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_hold_their_limits_and_never_downgrade() {
        assert_eq!(choose_tier(None, None, 10).unwrap(), "Standard");
        let e = choose_tier(None, None, 5000).unwrap_err();
        assert!(e.message.starts_with("Standard tier parameters support a maximum parameter value of 4096"));
        assert_eq!(choose_tier(Some(ParameterTier::Advanced), None, 5000).unwrap(), "Advanced");
        assert_eq!(choose_tier(Some(ParameterTier::IntelligentTiering), None, 5000).unwrap(), "Advanced");
        assert!(choose_tier(Some(ParameterTier::Advanced), None, 9000).is_err());
        assert!(choose_tier(Some(ParameterTier::Standard), Some("Advanced"), 10).is_err());
        assert_eq!(choose_tier(None, Some("Advanced"), 10).unwrap(), "Advanced");
    }
}

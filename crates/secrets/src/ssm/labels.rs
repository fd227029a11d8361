//! LabelParameterVersion and UnlabelParameterVersion: a label names one version of a parameter at a time; invalid
//! labels are reported, not refused.

use super::not_found;
use super::records::param_key;
use crate::records::{self, encode};
use crate::{Secrets, SecretsError};
use berth_model::ssm::*;
use berth_store::Txn;

/// The most labels one version may carry.
pub const MAX_LABELS: usize = 10;

/// Whether a label is well-formed: 1–100 of letters, digits and `._-`, not starting with a digit, `aws` or `ssm`.
pub fn valid_label(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    !label.is_empty()
        && label.len() <= 100
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !label.starts_with(|c: char| c.is_ascii_digit())
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
}

fn version_not_found(name: &str, version: i64) -> SecretsError {
    SecretsError::new(
        "ParameterVersionNotFound",
        format!("Systems Manager could not find version {version} of {name}. Verify the version and try again."),
    )
}

pub(crate) async fn label(
    s: &Secrets,
    req: LabelParameterVersionRequest,
) -> Result<LabelParameterVersionResult, SecretsError> {
    if req.labels.is_empty() || req.labels.len() > MAX_LABELS {
        return Err(SecretsError::constraint("labels", "Member must have length less than or equal to 10"));
    }
    let _writes = s.writes.lock().await;
    let (mut param, revision) = s.find_param(&req.name).await?.ok_or_else(not_found)?;
    let number = match req.parameter_version {
        Some(v) => v,
        None => param.latest().map_or(0, |v| v.version),
    };
    let index = param
        .versions
        .iter()
        .position(|v| v.version == number)
        .ok_or_else(|| version_not_found(&param.name, number))?;
    let (valid, invalid): (Vec<String>, Vec<String>) = req.labels.into_iter().partition(|l| valid_label(l));
    for l in &valid {
        for v in param.versions.iter_mut() {
            v.labels.retain(|x| x != l);
        }
        param.versions[index].labels.push(l.clone());
    }
    if param.versions[index].labels.len() > MAX_LABELS {
        return Err(SecretsError::new(
            "ParameterVersionLabelLimitExceeded",
            "A parameter version can have maximum 10 labels.Move one or more labels to another version and try again.",
        ));
    }
    let key = param_key(&param.name);
    records::commit_or_conflict(&s.store, Txn::new().expect(key.clone(), revision).put(key, encode(&param)?)).await?;
    Ok(LabelParameterVersionResult { invalid_labels: Some(invalid), parameter_version: Some(number) })
}

pub(crate) async fn unlabel(
    s: &Secrets,
    req: UnlabelParameterVersionRequest,
) -> Result<UnlabelParameterVersionResult, SecretsError> {
    let _writes = s.writes.lock().await;
    let (mut param, revision) = s.find_param(&req.name).await?.ok_or_else(not_found)?;
    let name = param.name.clone();
    let version = param
        .versions
        .iter_mut()
        .find(|v| v.version == req.parameter_version)
        .ok_or_else(|| version_not_found(&name, req.parameter_version))?;
    let (removed, invalid): (Vec<String>, Vec<String>) =
        req.labels.into_iter().partition(|l| version.labels.contains(l));
    version.labels.retain(|l| !removed.contains(l));
    let key = param_key(&param.name);
    records::commit_or_conflict(&s.store, Txn::new().expect(key.clone(), revision).put(key, encode(&param)?)).await?;
    Ok(UnlabelParameterVersionResult { removed_labels: Some(removed), invalid_labels: Some(invalid) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_parameter_store_rules() {
        assert!(valid_label("prod"));
        assert!(valid_label("release-1.2_a"));
        assert!(!valid_label("1st"));
        assert!(!valid_label("AWSlabel"));
        assert!(!valid_label("ssm-x"));
        assert!(!valid_label("a b"));
        assert!(!valid_label(""));
        assert!(!valid_label(&"a".repeat(101)));
    }
}

//! Registry-wide account operations: Get/PutAccountSetting, DescribeRegistry, and the pull-time update exclusions
//! (Register/Deregister/ListPullTimeUpdateExclusions: principals whose pulls leave `lastRecordedPullTime` alone).

use super::{Caller, EcrError, after_token, invalid, page_size, paginate};
use crate::Registry;
use crate::settings::{BASIC_SCAN_TYPE_VERSION, REGISTRY_POLICY_SCOPE, account_setting};
use berth_model::ecr::*;

/// The most principals the exclusion list holds (the model's list maximum).
const MAX_EXCLUSIONS: usize = 100;

/// The longest principal ARN the model allows.
const MAX_PRINCIPAL_ARN: usize = 200;

fn known_names() -> String {
    crate::settings::ACCOUNT_SETTINGS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

fn setting(name: &str) -> Result<crate::settings::AccountSetting, EcrError> {
    if name.is_empty() || name.len() > 64 {
        return Err(EcrError::Validation {
            message: "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have \
                      length between 1 and 64"
                .into(),
        });
    }
    account_setting(name)
        .ok_or_else(|| invalid(format!("Invalid account setting name {name:?}; the settings are {}", known_names())))
}

pub(crate) async fn get_account_setting(
    registry: &Registry,
    req: GetAccountSettingRequest,
    _caller: &Caller,
) -> Result<GetAccountSettingResponse, EcrError> {
    let setting = setting(&req.name)?;
    Ok(GetAccountSettingResponse {
        name: Some(setting.name.to_string()),
        value: Some(registry.settings().account_value(setting)),
    })
}

pub(crate) async fn put_account_setting(
    registry: &Registry,
    req: PutAccountSettingRequest,
    _caller: &Caller,
) -> Result<PutAccountSettingResponse, EcrError> {
    let setting = setting(&req.name)?;
    if !setting.values.contains(&req.value.as_str()) {
        let extra = if setting == BASIC_SCAN_TYPE_VERSION {
            " (Berth has one basic scanner, which stands for AWS_NATIVE)"
        } else {
            ""
        };
        return Err(invalid(format!(
            "Invalid value {:?} for account setting {}; valid values: {}{extra}",
            req.value,
            setting.name,
            setting.values.join(", ")
        )));
    }
    let value = req.value.clone();
    registry
        .update_settings(|s| {
            if setting == REGISTRY_POLICY_SCOPE
                && value == "V1"
                && let Some(policy) = &s.policy
            {
                // The stored policy must hold under the narrower scope, or it would govern actions V1 ignores.
                crate::policy::check_registry_policy(policy, true).map_err(|e| {
                    invalid(format!(
                        "The registry policy does not fit the V1 scope; change or delete it first: {}",
                        e.message()
                    ))
                })?;
            }
            s.account.insert(setting.name.to_string(), value.clone());
            Ok::<_, EcrError>(())
        })
        .await?;
    Ok(PutAccountSettingResponse { name: Some(setting.name.to_string()), value: Some(req.value) })
}

pub(crate) async fn describe_registry(
    registry: &Registry,
    _req: DescribeRegistryRequest,
    _caller: &Caller,
) -> Result<DescribeRegistryResponse, EcrError> {
    let replication = registry.settings().replication.clone().unwrap_or(ReplicationConfiguration { rules: Vec::new() });
    Ok(DescribeRegistryResponse {
        registry_id: Some(registry.config.account_id.clone()),
        replication_configuration: Some(replication),
    })
}

/// Why a principal ARN does not match the model's `PrincipalArn` pattern (an IAM user or role ARN).
fn principal_problem(arn: &str) -> Option<String> {
    let bad = || Some(format!("{arn:?} is not the ARN of an IAM user or role (arn:aws:iam::ACCOUNT:role/NAME)"));
    if arn.len() > MAX_PRINCIPAL_ARN {
        return Some(format!("the principal ARN is longer than {MAX_PRINCIPAL_ARN} characters"));
    }
    let Some(rest) = arn.strip_prefix("arn:aws") else { return bad() };
    let Some((partition_suffix, rest)) = rest.split_once(":iam::") else { return bad() };
    if !partition_suffix.split('-').skip(1).all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        || !(partition_suffix.is_empty() || partition_suffix.starts_with('-'))
    {
        return bad();
    }
    let Some((account, rest)) = rest.split_once(':') else { return bad() };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return bad();
    }
    let Some(path) = rest.strip_prefix("role/").or_else(|| rest.strip_prefix("user/")) else { return bad() };
    let segment_ok =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || "+=,.@-".contains(c));
    if !path.split('/').all(segment_ok) {
        return bad();
    }
    None
}

fn check_principal(arn: &str) -> Result<(), EcrError> {
    match principal_problem(arn) {
        Some(reason) => {
            Err(invalid(format!("Invalid parameter at 'principalArn' failed to satisfy constraint: {reason}")))
        }
        None => Ok(()),
    }
}

pub(crate) async fn register_pull_time_update_exclusion(
    registry: &Registry,
    req: RegisterPullTimeUpdateExclusionRequest,
    _caller: &Caller,
) -> Result<RegisterPullTimeUpdateExclusionResponse, EcrError> {
    check_principal(&req.principal_arn)?;
    let arn = req.principal_arn.clone();
    let now = registry.now();
    let created = registry
        .update_settings(|s| {
            if s.pull_exclusions.contains_key(&arn) {
                return Err(EcrError::ExclusionAlreadyExists {
                    message: format!("The principal {arn} is already excluded from pull time updates"),
                });
            }
            if s.pull_exclusions.len() >= MAX_EXCLUSIONS {
                return Err(EcrError::LimitExceeded {
                    message: format!("The registry already excludes {MAX_EXCLUSIONS} principals, the most it may"),
                });
            }
            s.pull_exclusions.insert(arn.clone(), now);
            Ok(now)
        })
        .await?;
    Ok(RegisterPullTimeUpdateExclusionResponse { principal_arn: Some(req.principal_arn), created_at: Some(created) })
}

pub(crate) async fn deregister_pull_time_update_exclusion(
    registry: &Registry,
    req: DeregisterPullTimeUpdateExclusionRequest,
    _caller: &Caller,
) -> Result<DeregisterPullTimeUpdateExclusionResponse, EcrError> {
    check_principal(&req.principal_arn)?;
    let arn = req.principal_arn.clone();
    registry
        .update_settings(|s| {
            s.pull_exclusions.remove(&arn).map(|_| ()).ok_or_else(|| EcrError::ExclusionNotFound {
                message: format!("The principal {arn} is not excluded from pull time updates"),
            })
        })
        .await?;
    Ok(DeregisterPullTimeUpdateExclusionResponse { principal_arn: Some(req.principal_arn) })
}

pub(crate) async fn list_pull_time_update_exclusions(
    registry: &Registry,
    req: ListPullTimeUpdateExclusionsRequest,
    _caller: &Caller,
) -> Result<ListPullTimeUpdateExclusionsResponse, EcrError> {
    let size = page_size(req.max_results, 100, 1000)?;
    let after = after_token(req.next_token.as_ref())?;
    let all: Vec<String> = registry.settings().pull_exclusions.keys().cloned().collect();
    let (page, next) = paginate(all, |a| a.clone(), after, size);
    Ok(ListPullTimeUpdateExclusionsResponse { pull_time_update_exclusions: Some(page), next_token: next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_iam_users_or_roles() {
        assert_eq!(principal_problem("arn:aws:iam::123456789012:role/ci"), None);
        assert_eq!(principal_problem("arn:aws:iam::123456789012:user/path/to/dev.user@x"), None);
        assert_eq!(principal_problem("arn:aws-cn:iam::123456789012:role/ci"), None);
        for bad in [
            "arn:aws:iam::123456789012:group/g",
            "arn:aws:iam::12345678901:role/ci",
            "arn:aws:sts::123456789012:assumed-role/ci/s",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a//b",
            "arn:awsx:iam::123456789012:role/ci",
            "",
        ] {
            assert!(principal_problem(bad).is_some(), "{bad}");
        }
        assert!(principal_problem(&format!("arn:aws:iam::123456789012:role/{}", "a".repeat(200))).is_some());
    }
}

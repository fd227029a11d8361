//! The registry scanning configuration: Put/GetRegistryScanningConfiguration and
//! BatchGetRepositoryScanningConfiguration. The configuration is kept in the registry settings; its rules decide
//! scan on push (with the repository's own flag) and, under ENHANCED, continuous re-scans when the advisory
//! database changes (see [`crate::settings::RegistrySettings`]).

use super::{Caller, EcrError, check_name, invalid};
use crate::Registry;
use berth_model::ecr::*;

/// The most rules a configuration holds (the model's list maximum).
const MAX_RULES: usize = 2;
/// The most filters one rule holds (the model's list maximum).
const MAX_FILTERS: usize = 100;
/// The most repositories one BatchGetRepositoryScanningConfiguration names.
const MAX_BATCH: usize = 25;

/// Why a scanning repository filter does not match the model's pattern
/// (`^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$`, 1 to 255 characters).
fn filter_problem(filter: &str) -> Option<String> {
    if filter.is_empty() || filter.len() > 255 {
        return Some(format!("the filter {filter:?} must have length between 1 and 255"));
    }
    let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'*';
    let separator = |b: u8| matches!(b, b'.' | b'_' | b'-' | b'/');
    let bytes = filter.as_bytes();
    let ok = word(bytes[0])
        && word(bytes[bytes.len() - 1])
        && bytes.iter().all(|&b| word(b) || separator(b))
        && !bytes.windows(2).any(|w| separator(w[0]) && separator(w[1]));
    (!ok).then(|| {
        format!(
            "the filter {filter:?} must be lowercase letters, digits and * with single . _ - / between them \
             (pattern ^[a-z0-9*](?:[._\\-/a-z0-9*]?[a-z0-9*]+)*$)"
        )
    })
}

/// Checks a configuration as ECR does: at most two rules, one per frequency, frequencies the scan type supports
/// (BASIC: SCAN_ON_PUSH or MANUAL; ENHANCED: SCAN_ON_PUSH, CONTINUOUS_SCAN or MANUAL), valid filters.
fn check_configuration(scan_type: ScanType, rules: &[RegistryScanningRule]) -> Result<(), EcrError> {
    if rules.len() > MAX_RULES {
        return Err(EcrError::Validation {
            message: format!(
                "1 validation error detected: Value at 'rules' failed to satisfy constraint: Member must have length \
                 less than or equal to {MAX_RULES}"
            ),
        });
    }
    for (i, rule) in rules.iter().enumerate() {
        if rules[..i].iter().any(|r| r.scan_frequency == rule.scan_frequency) {
            return Err(invalid(format!(
                "Only one rule per scan frequency is allowed; {} appears twice",
                rule.scan_frequency.as_str()
            )));
        }
        if scan_type == ScanType::Basic && rule.scan_frequency == ScanFrequency::ContinuousScan {
            return Err(invalid(
                "The scan frequency CONTINUOUS_SCAN is supported only with the ENHANCED scan type; BASIC supports \
                 SCAN_ON_PUSH and MANUAL",
            ));
        }
        if rule.repository_filters.len() > MAX_FILTERS {
            return Err(invalid(format!("A rule may have at most {MAX_FILTERS} repository filters")));
        }
        if rule.repository_filters.is_empty() && rule.scan_frequency != ScanFrequency::Manual {
            return Err(invalid(format!(
                "The {} rule needs at least one repository filter",
                rule.scan_frequency.as_str()
            )));
        }
        for filter in &rule.repository_filters {
            if let Some(reason) = filter_problem(&filter.filter) {
                return Err(invalid(format!("Invalid repository filter: {reason}")));
            }
        }
    }
    Ok(())
}

pub(crate) async fn put_registry_scanning_configuration(
    registry: &Registry,
    req: PutRegistryScanningConfigurationRequest,
    _caller: &Caller,
) -> Result<PutRegistryScanningConfigurationResponse, EcrError> {
    let scan_type = req.scan_type.unwrap_or(ScanType::Basic);
    let rules = req.rules.unwrap_or_default();
    check_configuration(scan_type, &rules)?;
    let config = RegistryScanningConfiguration { scan_type: Some(scan_type), rules: Some(rules) };
    let stored = config.clone();
    registry
        .update_settings(|s| {
            s.scanning = Some(stored.clone());
            Ok::<_, EcrError>(())
        })
        .await?;
    Ok(PutRegistryScanningConfigurationResponse { registry_scanning_configuration: Some(config) })
}

pub(crate) async fn get_registry_scanning_configuration(
    registry: &Registry,
    _req: GetRegistryScanningConfigurationRequest,
    _caller: &Caller,
) -> Result<GetRegistryScanningConfigurationResponse, EcrError> {
    Ok(GetRegistryScanningConfigurationResponse {
        registry_id: Some(registry.config.account_id.clone()),
        scanning_configuration: Some(registry.settings().scanning_configuration()),
    })
}

pub(crate) async fn batch_get_repository_scanning_configuration(
    registry: &Registry,
    req: BatchGetRepositoryScanningConfigurationRequest,
    _caller: &Caller,
) -> Result<BatchGetRepositoryScanningConfigurationResponse, EcrError> {
    if req.repository_names.is_empty() || req.repository_names.len() > MAX_BATCH {
        return Err(EcrError::Validation {
            message: format!(
                "1 validation error detected: Value at 'repositoryNames' failed to satisfy constraint: Member must \
                 have length between 1 and {MAX_BATCH}"
            ),
        });
    }
    for name in &req.repository_names {
        check_name(name)?;
    }
    let settings = registry.settings();
    let (mut found, mut failures) = (Vec::new(), Vec::new());
    for name in &req.repository_names {
        let own = registry.index.read().repo(name).and_then(|r| r.record.as_ref().map(|(rec, _)| rec.scan_on_push));
        let Some(own) = own else {
            failures.push(RepositoryScanningConfigurationFailure {
                repository_name: Some(name.clone()),
                failure_code: Some(ScanningConfigurationFailureCode::RepositoryNotFound),
                failure_reason: Some(format!(
                    "The repository with name '{name}' does not exist in the registry with id '{}'",
                    registry.config.account_id
                )),
            });
            continue;
        };
        let rule = settings.scanning_rule_for(name);
        let frequency = match &rule {
            Some((rule, _)) => rule.scan_frequency,
            None if own => ScanFrequency::ScanOnPush,
            None => ScanFrequency::Manual,
        };
        let applied = rule
            .map(|(_, filters)| {
                filters
                    .into_iter()
                    .map(|filter| ScanningRepositoryFilter {
                        filter,
                        filter_type: ScanningRepositoryFilterType::Wildcard,
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.push(RepositoryScanningConfiguration {
            repository_arn: Some(registry.repository_arn(name)),
            repository_name: Some(name.clone()),
            scan_on_push: Some(own || settings.scans_on_push(name)),
            scan_frequency: Some(frequency),
            applied_scan_filters: Some(applied),
        });
    }
    Ok(BatchGetRepositoryScanningConfigurationResponse {
        scanning_configurations: Some(found),
        failures: Some(failures),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(frequency: ScanFrequency, filter: &str) -> RegistryScanningRule {
        RegistryScanningRule {
            scan_frequency: frequency,
            repository_filters: vec![ScanningRepositoryFilter {
                filter: filter.into(),
                filter_type: ScanningRepositoryFilterType::Wildcard,
            }],
        }
    }

    #[test]
    fn filters_follow_the_model_pattern() {
        for ok in ["*", "prod-*", "team/app", "a.b_c-d/e*", "x"] {
            assert_eq!(filter_problem(ok), None, "{ok}");
        }
        for bad in ["", "Prod", "-a", "a-", "a//b", "a b", &"a".repeat(256)] {
            assert!(filter_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn frequencies_must_fit_the_scan_type() {
        assert!(check_configuration(ScanType::Basic, &[rule(ScanFrequency::ScanOnPush, "*")]).is_ok());
        let continuous = [rule(ScanFrequency::ContinuousScan, "*")];
        assert_eq!(
            check_configuration(ScanType::Basic, &continuous).unwrap_err().exception(),
            "InvalidParameterException"
        );
        assert!(check_configuration(ScanType::Enhanced, &continuous).is_ok());
        let twice = [rule(ScanFrequency::ScanOnPush, "a"), rule(ScanFrequency::ScanOnPush, "b")];
        assert!(check_configuration(ScanType::Enhanced, &twice).is_err());
        let three = [
            rule(ScanFrequency::ScanOnPush, "a"),
            rule(ScanFrequency::ContinuousScan, "b"),
            rule(ScanFrequency::Manual, "c"),
        ];
        assert_eq!(check_configuration(ScanType::Enhanced, &three).unwrap_err().exception(), "ValidationException");
        assert!(check_configuration(ScanType::Basic, &[rule(ScanFrequency::ScanOnPush, "Bad")]).is_err());
    }
}

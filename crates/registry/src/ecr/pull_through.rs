//! Pull-through cache rule operations: Create/Describe/Update/Delete/ValidatePullThroughCacheRule.
//!
//! Upstream URLs: the public registries ECR names (as hosts, reached over https) and whatever the operator allows
//! with `--pull-through-upstream-allow`; an `http://` URL is a Berth extension and must be allowed that way.
//! Private Amazon ECR upstreams (`upstreamRegistry` `ecr`, authenticated with an IAM role, `customRoleArn`) are
//! refused: Berth cannot assume a role in AWS.

use super::{Caller, EcrError, after_token, check_registry, invalid, page_size, paginate};
use crate::Registry;
use crate::pullthrough::fetch::CredentialProblem;
use crate::pullthrough::rules::{RuleRecord, host_of, normalize_url, prefix_problem};
use crate::pullthrough::upstream::Target;
use crate::pullthrough::{SecretProblem, known_upstream, needs_credentials};
use berth_model::ecr::*;

/// ECR's quota of pull-through cache rules per registry.
const MAX_RULES: usize = 50;

/// The stored form of a prefix (no trailing `/`), or the error for an invalid one.
fn check_prefix(member: &str, prefix: &str) -> Result<String, EcrError> {
    if let Some(problem) = prefix_problem(prefix) {
        return Err(invalid(problem.replace("'ecrRepositoryPrefix'", &format!("'{member}'"))));
    }
    Ok(prefix.strip_suffix('/').unwrap_or(prefix).to_string())
}

fn not_found(registry: &Registry, prefix: &str) -> EcrError {
    EcrError::PullThroughCacheRuleNotFound {
        message: format!(
            "The pull through cache rule with prefix '{prefix}' does not exist in the registry with id '{}'",
            registry.config.account_id
        ),
    }
}

fn check_credential_arn(arn: &str) -> Result<(), EcrError> {
    let tail = arn.split_once(":secret:ecr-pullthroughcache/");
    let well_formed = (50..=612).contains(&arn.len())
        && arn.starts_with("arn:aws")
        && arn.contains(":secretsmanager:")
        && tail.is_some_and(|(_, t)| {
            !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
        });
    if well_formed {
        Ok(())
    } else {
        Err(invalid(format!(
            "Invalid parameter at 'credentialArn' failed to satisfy constraint: the ARN of a Secrets Manager secret \
             whose name starts with ecr-pullthroughcache/ (50 to 612 characters): {arn}"
        )))
    }
}

/// Maps a secret that could not be read to ECR's exceptions.
fn secret_error(problem: CredentialProblem) -> EcrError {
    match problem {
        CredentialProblem::Secret(SecretProblem::NotFound(message)) => EcrError::SecretNotFound { message },
        CredentialProblem::Secret(SecretProblem::Unreadable(message)) => EcrError::UnableToAccessSecret { message },
        CredentialProblem::Malformed(message) => EcrError::UnableToDecryptSecretValue { message },
    }
}

/// Checks an upstream URL and `upstreamRegistry`; the registry kind to record.
fn check_upstream(
    registry: &Registry,
    url: &str,
    given: Option<UpstreamRegistry>,
) -> Result<Option<UpstreamRegistry>, EcrError> {
    let normalized = normalize_url(url);
    let allowed_by_operator = registry.config.pull_through_allow.iter().any(|a| normalize_url(a) == normalized);
    let unsupported = |message: String| EcrError::UnsupportedUpstreamRegistry { message };
    if normalized.is_empty() || normalized.contains(char::is_whitespace) {
        return Err(invalid(format!("Invalid parameter at 'upstreamRegistryUrl': {url:?} is not a registry URL")));
    }
    if !normalized.starts_with("http://") && normalized.contains("://") {
        return Err(invalid(format!(
            "Invalid parameter at 'upstreamRegistryUrl': {url:?} must be a registry host such as registry-1.docker.io"
        )));
    }
    if allowed_by_operator {
        return Ok(given.or_else(|| known_upstream(host_of(&normalized))));
    }
    if normalized.starts_with("http://") {
        return Err(unsupported(format!(
            "The upstream registry {url} isn't supported: an http:// upstream is a Berth extension the operator must \
             allow with --pull-through-upstream-allow {url}"
        )));
    }
    let Some(kind) = known_upstream(&normalized) else {
        return Err(unsupported(format!(
            "The upstream registry {url} isn't supported: ECR's public upstreams are public.ecr.aws, \
             registry-1.docker.io, ghcr.io, registry.gitlab.com, registry.k8s.io, quay.io, cgr.dev and \
             <name>.azurecr.io; the operator may allow others with --pull-through-upstream-allow"
        )));
    };
    if let Some(given) = given
        && given != kind
    {
        return Err(invalid(format!(
            "upstreamRegistry {given} does not match the upstream registry URL {url} ({kind})"
        )));
    }
    if kind == UpstreamRegistry::Ecr {
        return Err(unsupported(
            "Amazon ECR upstreams authenticate with an IAM role (customRoleArn), which Berth cannot assume in AWS"
                .into(),
        ));
    }
    Ok(Some(kind))
}

fn rule_shape(registry: &Registry, r: &RuleRecord) -> PullThroughCacheRule {
    PullThroughCacheRule {
        ecr_repository_prefix: Some(r.prefix.clone()),
        upstream_registry_url: Some(r.upstream_url.clone()),
        created_at: Some(r.created_at),
        registry_id: Some(registry.config.account_id.clone()),
        credential_arn: r.credential_arn.clone(),
        custom_role_arn: None,
        upstream_repository_prefix: r.upstream_prefix.clone(),
        upstream_registry: r.upstream_registry,
        updated_at: Some(r.updated_at),
    }
}

fn refuse_custom_role(custom_role_arn: &Option<String>) -> Result<(), EcrError> {
    match custom_role_arn.as_deref() {
        None | Some("") => Ok(()),
        Some(_) => Err(invalid(
            "customRoleArn applies to Amazon ECR upstreams, which Berth does not support (it cannot assume a role in AWS)",
        )),
    }
}

pub(crate) async fn create_pull_through_cache_rule(
    registry: &Registry,
    req: CreatePullThroughCacheRuleRequest,
    _caller: &Caller,
) -> Result<CreatePullThroughCacheRuleResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    let prefix = check_prefix("ecrRepositoryPrefix", &req.ecr_repository_prefix)?;
    refuse_custom_role(&req.custom_role_arn)?;
    let kind = check_upstream(registry, &req.upstream_registry_url, req.upstream_registry)?;
    let upstream_prefix = match req.upstream_repository_prefix.as_deref() {
        None | Some("") => None,
        Some(p) => Some(check_prefix("upstreamRepositoryPrefix", p)?),
    };
    let credential_arn = req.credential_arn.filter(|a| !a.is_empty());
    if let Some(arn) = &credential_arn {
        check_credential_arn(arn)?;
        registry.rule_credentials(Some(arn)).await.map_err(secret_error)?;
    } else if kind.is_some_and(needs_credentials) {
        return Err(invalid(format!(
            "A credentialArn is required for the upstream registry {}",
            kind.map(|k| k.to_string()).unwrap_or_default()
        )));
    }
    if registry.rules().all().len() >= MAX_RULES {
        return Err(EcrError::LimitExceeded {
            message: format!("The registry already has the maximum of {MAX_RULES} pull through cache rules"),
        });
    }
    let now = berth_model::clock::to_millis(registry.now());
    let record = RuleRecord {
        prefix: prefix.clone(),
        upstream_url: req.upstream_registry_url.trim().trim_end_matches('/').to_string(),
        upstream_registry: kind,
        credential_arn,
        upstream_prefix,
        created_at: now,
        updated_at: now,
    };
    if !registry.put_rule(&record, true).await? {
        return Err(EcrError::PullThroughCacheRuleAlreadyExists {
            message: format!(
                "A pull through cache rule with the prefix '{prefix}' already exists in the registry with id '{}'",
                registry.config.account_id
            ),
        });
    }
    Ok(CreatePullThroughCacheRuleResponse {
        ecr_repository_prefix: Some(record.prefix),
        upstream_registry_url: Some(record.upstream_url),
        created_at: Some(record.created_at),
        registry_id: Some(registry.config.account_id.clone()),
        upstream_registry: record.upstream_registry,
        credential_arn: record.credential_arn,
        custom_role_arn: None,
        upstream_repository_prefix: record.upstream_prefix,
    })
}

pub(crate) async fn describe_pull_through_cache_rules(
    registry: &Registry,
    req: DescribePullThroughCacheRulesRequest,
    _caller: &Caller,
) -> Result<DescribePullThroughCacheRulesResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    let size = page_size(req.max_results, 100, 1000)?;
    let after = after_token(req.next_token.as_ref())?;
    let rules = match req.ecr_repository_prefixes.filter(|p| !p.is_empty()) {
        Some(prefixes) => {
            if prefixes.len() > 100 {
                return Err(invalid("ecrRepositoryPrefixes must contain between 1 and 100 items"));
            }
            let mut out = Vec::new();
            for p in prefixes {
                let p = check_prefix("ecrRepositoryPrefixes", &p)?;
                out.push(registry.rules().get(&p).ok_or_else(|| not_found(registry, &p))?);
            }
            out
        }
        None => registry.rules().all(),
    };
    let (page, next) = paginate(rules, |r| r.prefix.clone(), after, size);
    Ok(DescribePullThroughCacheRulesResponse {
        pull_through_cache_rules: Some(page.iter().map(|r| rule_shape(registry, r)).collect()),
        next_token: next,
    })
}

pub(crate) async fn update_pull_through_cache_rule(
    registry: &Registry,
    req: UpdatePullThroughCacheRuleRequest,
    _caller: &Caller,
) -> Result<UpdatePullThroughCacheRuleResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    let prefix = check_prefix("ecrRepositoryPrefix", &req.ecr_repository_prefix)?;
    refuse_custom_role(&req.custom_role_arn)?;
    let mut record = registry.rules().get(&prefix).ok_or_else(|| not_found(registry, &prefix))?;
    let credential_arn = req.credential_arn.filter(|a| !a.is_empty());
    if let Some(arn) = &credential_arn {
        check_credential_arn(arn)?;
        registry.rule_credentials(Some(arn)).await.map_err(secret_error)?;
    } else if record.upstream_registry.is_some_and(needs_credentials) {
        return Err(invalid("A credentialArn is required for this upstream registry"));
    }
    record.credential_arn = credential_arn;
    record.updated_at = berth_model::clock::to_millis(registry.now());
    registry.put_rule(&record, false).await?;
    Ok(UpdatePullThroughCacheRuleResponse {
        ecr_repository_prefix: Some(record.prefix),
        registry_id: Some(registry.config.account_id.clone()),
        updated_at: Some(record.updated_at),
        credential_arn: record.credential_arn,
        custom_role_arn: None,
        upstream_repository_prefix: record.upstream_prefix,
    })
}

pub(crate) async fn delete_pull_through_cache_rule(
    registry: &Registry,
    req: DeletePullThroughCacheRuleRequest,
    _caller: &Caller,
) -> Result<DeletePullThroughCacheRuleResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    let prefix = check_prefix("ecrRepositoryPrefix", &req.ecr_repository_prefix)?;
    let record = registry.delete_rule(&prefix).await?.ok_or_else(|| not_found(registry, &prefix))?;
    Ok(DeletePullThroughCacheRuleResponse {
        ecr_repository_prefix: Some(record.prefix),
        upstream_registry_url: Some(record.upstream_url),
        created_at: Some(record.created_at),
        registry_id: Some(registry.config.account_id.clone()),
        credential_arn: record.credential_arn,
        custom_role_arn: None,
        upstream_repository_prefix: record.upstream_prefix,
    })
}

pub(crate) async fn validate_pull_through_cache_rule(
    registry: &Registry,
    req: ValidatePullThroughCacheRuleRequest,
    _caller: &Caller,
) -> Result<ValidatePullThroughCacheRuleResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    let prefix = check_prefix("ecrRepositoryPrefix", &req.ecr_repository_prefix)?;
    let record = registry.rules().get(&prefix).ok_or_else(|| not_found(registry, &prefix))?;
    let failure = match registry.rule_credentials(record.credential_arn.as_deref()).await {
        Err(problem) => Some(problem.to_string()),
        Ok(credentials) => {
            let base = record.base_url();
            let target = Target { base: &base, repository: None, credentials: credentials.as_ref() };
            registry.upstream_ping(&target).await.err()
        }
    };
    Ok(ValidatePullThroughCacheRuleResponse {
        ecr_repository_prefix: Some(record.prefix),
        registry_id: Some(registry.config.account_id.clone()),
        upstream_registry_url: Some(record.upstream_url),
        credential_arn: record.credential_arn,
        custom_role_arn: None,
        upstream_repository_prefix: record.upstream_prefix,
        is_valid: Some(failure.is_none()),
        failure,
    })
}

impl Registry {
    /// Authenticates to an upstream's `/v2/` as a rule would; the failure's text.
    pub(crate) async fn upstream_ping(&self, target: &Target<'_>) -> Result<(), String> {
        self.upstream.get(target, "", None).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

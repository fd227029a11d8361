//! Repository creation template operations: Create/Describe/Update/DeleteRepositoryCreationTemplate.
//!
//! Templates are applied when Berth creates a repository itself: CREATE_ON_PUSH (a `/v2/` push to a repository that
//! does not exist), PULL_THROUGH_CACHE (the first pull through a rule) and REPLICATION (a replicating Berth server's
//! CreateRepository, marked with its `x-berth-replication-source` header and setting nothing itself; see
//! `replicated.rs`). `encryptionConfiguration` is stored as given, as CreateRepository does (Berth does not encrypt
//! blobs; KMS keys are not used); `customRoleArn` is stored and unused (Berth applies tags itself).

use super::repositories::{check_mutability, check_tags};
use super::{Caller, EcrError, after_token, invalid, page_size, paginate};
use crate::Registry;
use crate::lifecycle::Policy;
use crate::templates::ROOT;
use berth_model::ecr::*;

/// ECR's quota of templates per registry.
const MAX_TEMPLATES: usize = 100;

fn check_prefix(prefix: &str) -> Result<String, EcrError> {
    let constraint = "Member must satisfy regular expression pattern: \
        ^([a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*\\/?|ROOT)$";
    if prefix.is_empty() || prefix.len() > 256 {
        return Err(EcrError::Validation {
            message: format!(
                "1 validation error detected: Value '{prefix}' at 'prefix' failed to satisfy constraint: Member must have length between 1 and 256"
            ),
        });
    }
    if prefix == ROOT {
        return Ok(prefix.to_string());
    }
    let body = prefix.strip_suffix('/').unwrap_or(prefix);
    let valid = !body.is_empty() && body.split('/').all(crate::names::valid_component);
    if !valid {
        return Err(EcrError::Validation {
            message: format!(
                "1 validation error detected: Value '{prefix}' at 'prefix' failed to satisfy constraint: {constraint}"
            ),
        });
    }
    Ok(body.to_string())
}

fn not_found(registry: &Registry, prefix: &str) -> EcrError {
    EcrError::TemplateNotFound {
        message: format!(
            "The repository creation template with prefix '{prefix}' does not exist in the registry with id '{}'",
            registry.config.account_id
        ),
    }
}

/// The settings a Create or Update gives, validated.
struct Settings {
    description: Option<String>,
    encryption: Option<EncryptionConfigurationForRepositoryCreationTemplate>,
    tags: Option<Vec<Tag>>,
    mutability: Option<ImageTagMutability>,
    filters: Option<Vec<ImageTagMutabilityExclusionFilter>>,
    repository_policy: Option<String>,
    lifecycle_policy: Option<String>,
    applied_for: Option<Vec<RCTAppliedFor>>,
    custom_role_arn: Option<String>,
}

impl Settings {
    fn check(self) -> Result<Settings, EcrError> {
        if self.description.as_ref().is_some_and(|d| d.chars().count() > 256) {
            return Err(invalid("description must be at most 256 characters"));
        }
        if let Some(mutability) = self.mutability {
            check_mutability(mutability, &self.filters)?;
        } else if self.filters.as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(invalid("imageTagMutabilityExclusionFilters requires imageTagMutability"));
        }
        if let Some(tags) = &self.tags {
            check_tags(tags)?;
            if tags.len() > 50 {
                return Err(EcrError::TooManyTags { message: "too many tags: at most 50".into() });
            }
        }
        if let Some(policy) = self.lifecycle_policy.as_deref().filter(|p| !p.is_empty()) {
            Policy::parse(policy)?;
        }
        if let Some(policy) = self.repository_policy.as_deref().filter(|p| !p.is_empty()) {
            crate::policy::check_repository_policy(policy)?;
        }
        if let Some(enc) = &self.encryption
            && enc.encryption_type == EncryptionType::Aes256
            && enc.kms_key.as_deref().is_some_and(|k| !k.is_empty())
        {
            return Err(invalid("kmsKey can only be given with encryptionType KMS"));
        }
        if self.custom_role_arn.as_ref().is_some_and(|a| a.len() > 2048) {
            return Err(invalid("customRoleArn must be at most 2048 characters"));
        }
        Ok(self)
    }

    fn apply(self, t: &mut RepositoryCreationTemplate) {
        let keep = |s: Option<String>| s.filter(|x| !x.is_empty());
        if self.description.is_some() {
            t.description = keep(self.description);
        }
        if self.encryption.is_some() {
            t.encryption_configuration = self.encryption;
        }
        if self.tags.is_some() {
            t.resource_tags = self.tags;
        }
        if self.mutability.is_some() {
            t.image_tag_mutability = self.mutability;
            t.image_tag_mutability_exclusion_filters = self.filters.filter(|f| !f.is_empty());
        }
        if self.repository_policy.is_some() {
            t.repository_policy = keep(self.repository_policy);
        }
        if self.lifecycle_policy.is_some() {
            t.lifecycle_policy = keep(self.lifecycle_policy);
        }
        if let Some(applied) = self.applied_for {
            let mut applied = applied;
            applied.sort_by_key(|a| a.as_str());
            applied.dedup();
            t.applied_for = Some(applied);
        }
        if self.custom_role_arn.is_some() {
            t.custom_role_arn = keep(self.custom_role_arn);
        }
    }
}

pub(crate) async fn create_repository_creation_template(
    registry: &Registry,
    req: CreateRepositoryCreationTemplateRequest,
    _caller: &Caller,
) -> Result<CreateRepositoryCreationTemplateResponse, EcrError> {
    let prefix = check_prefix(&req.prefix)?;
    if req.applied_for.is_empty() {
        return Err(invalid("appliedFor must name at least one of REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH"));
    }
    let settings = Settings {
        description: req.description,
        encryption: req.encryption_configuration,
        tags: req.resource_tags,
        mutability: req.image_tag_mutability,
        filters: req.image_tag_mutability_exclusion_filters,
        repository_policy: req.repository_policy,
        lifecycle_policy: req.lifecycle_policy,
        applied_for: Some(req.applied_for),
        custom_role_arn: req.custom_role_arn,
    }
    .check()?;
    if registry.templates().all().len() >= MAX_TEMPLATES {
        return Err(EcrError::LimitExceeded {
            message: format!("The registry already has the maximum of {MAX_TEMPLATES} repository creation templates"),
        });
    }
    let now = berth_model::clock::to_millis(registry.now());
    let mut template = RepositoryCreationTemplate {
        prefix: Some(prefix.clone()),
        image_tag_mutability: Some(ImageTagMutability::Mutable),
        encryption_configuration: Some(EncryptionConfigurationForRepositoryCreationTemplate {
            encryption_type: EncryptionType::Aes256,
            kms_key: None,
        }),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    settings.apply(&mut template);
    if !registry.put_template(&prefix, &template, true).await? {
        return Err(EcrError::TemplateAlreadyExists {
            message: format!(
                "The repository creation template with prefix '{prefix}' already exists in the registry with id '{}'",
                registry.config.account_id
            ),
        });
    }
    Ok(CreateRepositoryCreationTemplateResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_creation_template: Some(template),
    })
}

pub(crate) async fn describe_repository_creation_templates(
    registry: &Registry,
    req: DescribeRepositoryCreationTemplatesRequest,
    _caller: &Caller,
) -> Result<DescribeRepositoryCreationTemplatesResponse, EcrError> {
    let size = page_size(req.max_results, 100, 1000)?;
    let after = after_token(req.next_token.as_ref())?;
    let templates = match req.prefixes.filter(|p| !p.is_empty()) {
        Some(prefixes) => {
            let mut wanted = Vec::new();
            for p in &prefixes {
                wanted.push(check_prefix(p)?);
            }
            registry
                .templates()
                .all()
                .into_iter()
                .filter(|t| t.prefix.as_ref().is_some_and(|p| wanted.contains(p)))
                .collect()
        }
        None => registry.templates().all(),
    };
    let (page, next) = paginate(templates, |t| t.prefix.clone().unwrap_or_default(), after, size);
    Ok(DescribeRepositoryCreationTemplatesResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_creation_templates: Some(page),
        next_token: next,
    })
}

pub(crate) async fn update_repository_creation_template(
    registry: &Registry,
    req: UpdateRepositoryCreationTemplateRequest,
    _caller: &Caller,
) -> Result<UpdateRepositoryCreationTemplateResponse, EcrError> {
    let prefix = check_prefix(&req.prefix)?;
    let mut template = registry.templates().get(&prefix).ok_or_else(|| not_found(registry, &prefix))?;
    if req.applied_for.as_ref().is_some_and(|a| a.is_empty()) {
        return Err(invalid("appliedFor must name at least one of REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH"));
    }
    Settings {
        description: req.description,
        encryption: req.encryption_configuration,
        tags: req.resource_tags,
        mutability: req.image_tag_mutability,
        filters: req.image_tag_mutability_exclusion_filters,
        repository_policy: req.repository_policy,
        lifecycle_policy: req.lifecycle_policy,
        applied_for: req.applied_for,
        custom_role_arn: req.custom_role_arn,
    }
    .check()?
    .apply(&mut template);
    template.updated_at = Some(berth_model::clock::to_millis(registry.now()));
    registry.put_template(&prefix, &template, false).await?;
    Ok(UpdateRepositoryCreationTemplateResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_creation_template: Some(template),
    })
}

pub(crate) async fn delete_repository_creation_template(
    registry: &Registry,
    req: DeleteRepositoryCreationTemplateRequest,
    _caller: &Caller,
) -> Result<DeleteRepositoryCreationTemplateResponse, EcrError> {
    let prefix = check_prefix(&req.prefix)?;
    let template = registry.delete_template(&prefix).await?.ok_or_else(|| not_found(registry, &prefix))?;
    Ok(DeleteRepositoryCreationTemplateResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_creation_template: Some(template),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_the_model() {
        assert_eq!(check_prefix("prod/").unwrap(), "prod");
        assert_eq!(check_prefix("a").unwrap(), "a");
        assert_eq!(check_prefix("ROOT").unwrap(), "ROOT");
        assert!(check_prefix("").is_err());
        assert!(check_prefix("Prod").is_err());
        assert!(check_prefix("a//b").is_err());
    }
}

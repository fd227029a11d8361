//! Repository operations: Create/Describe/DeleteRepository, PutImageTagMutability,
//! PutImageScanningConfiguration, and resource tags.

use super::{Caller, EcrError, after_token, check_name, check_registry, invalid, page_size, paginate};
use crate::Registry;
use crate::error::RegistryError;
use crate::meta::records::RepositoryRecord;
use berth_model::ecr::*;

const MAX_RESOURCE_TAGS: usize = 50;

/// The wire shape of a repository.
pub(crate) fn repository_shape(registry: &Registry, r: &RepositoryRecord) -> Repository {
    Repository {
        repository_arn: Some(registry.repository_arn(&r.name)),
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(r.name.clone()),
        repository_uri: Some(registry.repository_uri(&r.name)),
        created_at: Some(r.created_at),
        image_tag_mutability: Some(r.image_tag_mutability),
        image_tag_mutability_exclusion_filters: if r.exclusion_filters.is_empty() {
            None
        } else {
            Some(r.exclusion_filters.clone())
        },
        image_scanning_configuration: Some(ImageScanningConfiguration { scan_on_push: Some(r.scan_on_push) }),
        encryption_configuration: Some(
            r.encryption
                .clone()
                .unwrap_or(EncryptionConfiguration { encryption_type: EncryptionType::Aes256, kms_key: None }),
        ),
    }
}

pub(crate) fn check_mutability(
    mutability: ImageTagMutability,
    filters: &Option<Vec<ImageTagMutabilityExclusionFilter>>,
) -> Result<Vec<ImageTagMutabilityExclusionFilter>, EcrError> {
    let filters = filters.clone().unwrap_or_default();
    let with_exclusion =
        matches!(mutability, ImageTagMutability::ImmutableWithExclusion | ImageTagMutability::MutableWithExclusion);
    if with_exclusion && filters.is_empty() {
        return Err(invalid(format!("imageTagMutability {mutability} requires imageTagMutabilityExclusionFilters")));
    }
    if !with_exclusion && !filters.is_empty() {
        return Err(invalid(format!(
            "imageTagMutabilityExclusionFilters can only be used with IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION, not {mutability}"
        )));
    }
    for f in &filters {
        if let Some(reason) = crate::names::wildcard_problem(&f.filter, 128) {
            return Err(invalid(format!("invalid imageTagMutabilityExclusionFilters: {reason}")));
        }
    }
    Ok(filters)
}

pub(crate) fn check_tags(tags: &[Tag]) -> Result<(), EcrError> {
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(EcrError::InvalidTagParameter {
                message: format!("tag key {:?} must be 1 to 128 characters", t.key),
            });
        }
        if t.value.chars().count() > 256 {
            return Err(EcrError::InvalidTagParameter {
                message: format!("tag value of {:?} must be at most 256 characters", t.key),
            });
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(EcrError::InvalidTagParameter {
                message: format!("tag key {:?} uses the reserved prefix aws:", t.key),
            });
        }
    }
    Ok(())
}

fn merge_tags(current: &mut Vec<Tag>, new: &[Tag]) -> Result<(), RegistryError> {
    for t in new {
        match current.iter_mut().find(|c| c.key == t.key) {
            Some(existing) => existing.value = t.value.clone(),
            None => current.push(t.clone()),
        }
    }
    if current.len() > MAX_RESOURCE_TAGS {
        return Err(RegistryError::InvalidParameter { reason: format!("too many tags: at most {MAX_RESOURCE_TAGS}") });
    }
    Ok(())
}

pub(crate) async fn create_repository(
    registry: &Registry,
    req: CreateRepositoryRequest,
    caller: &Caller,
) -> Result<CreateRepositoryResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    if let Some(record) = super::replicated::templated_record(registry, &req, caller)? {
        let record = registry.create_repository(record).await?;
        return Ok(CreateRepositoryResponse { repository: Some(repository_shape(registry, &record)) });
    }
    let mutability = req.image_tag_mutability.unwrap_or(ImageTagMutability::Mutable);
    let filters = check_mutability(mutability, &req.image_tag_mutability_exclusion_filters)?;
    let tags = req.tags.unwrap_or_default();
    check_tags(&tags)?;
    let mut merged = Vec::new();
    merge_tags(&mut merged, &tags).map_err(|e| EcrError::TooManyTags { message: e.to_string() })?;
    if let Some(enc) = &req.encryption_configuration
        && enc.encryption_type == EncryptionType::Aes256
        && enc.kms_key.is_some()
    {
        return Err(invalid("kmsKey can only be given with encryptionType KMS"));
    }
    let record = RepositoryRecord {
        name: req.repository_name,
        created_at: berth_model::clock::to_millis(registry.now()),
        image_tag_mutability: mutability,
        exclusion_filters: filters,
        scan_on_push: req.image_scanning_configuration.and_then(|c| c.scan_on_push).unwrap_or(false),
        encryption: req.encryption_configuration,
        tags: merged,
        lifecycle_policy: None,
        lifecycle_evaluated_at: None,
        policy: None,
    };
    let record = registry.create_repository(record).await?;
    Ok(CreateRepositoryResponse { repository: Some(repository_shape(registry, &record)) })
}

pub(crate) async fn describe_repositories(
    registry: &Registry,
    req: DescribeRepositoriesRequest,
    _caller: &Caller,
) -> Result<DescribeRepositoriesResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    let names = req.repository_names.filter(|n| !n.is_empty());
    if names.is_some() && (req.max_results.is_some() || req.next_token.is_some()) {
        return Err(invalid("maxResults and nextToken cannot be used with repositoryNames"));
    }
    let size = page_size(req.max_results, 100, 1000)?;
    let after = after_token(req.next_token.as_ref())?;
    let records: Vec<RepositoryRecord> = {
        let state = registry.index.read();
        match &names {
            Some(names) => {
                let mut out = Vec::new();
                for name in names {
                    check_name(name)?;
                    let record = state
                        .existing_repo(name)?
                        .record
                        .as_ref()
                        .ok_or_else(|| EcrError::from(RegistryError::RepositoryNotFound { name: name.clone() }))?;
                    out.push((*record.0).clone());
                }
                out
            }
            None => state.repos.values().filter_map(|r| r.record.as_ref().map(|(rec, _)| (**rec).clone())).collect(),
        }
    };
    let (page, next) =
        if names.is_some() { (records, None) } else { paginate(records, |r| r.name.clone(), after, size) };
    Ok(DescribeRepositoriesResponse {
        repositories: Some(page.iter().map(|r| repository_shape(registry, r)).collect()),
        next_token: next,
    })
}

pub(crate) async fn delete_repository(
    registry: &Registry,
    req: DeleteRepositoryRequest,
    _caller: &Caller,
) -> Result<DeleteRepositoryResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let record = registry.delete_repository(&req.repository_name, req.force.unwrap_or(false)).await?;
    Ok(DeleteRepositoryResponse { repository: Some(repository_shape(registry, &record)) })
}

pub(crate) async fn put_image_tag_mutability(
    registry: &Registry,
    req: PutImageTagMutabilityRequest,
    _caller: &Caller,
) -> Result<PutImageTagMutabilityResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let filters = check_mutability(req.image_tag_mutability, &req.image_tag_mutability_exclusion_filters)?;
    let record = registry
        .update_repository(&req.repository_name, |r| {
            r.image_tag_mutability = req.image_tag_mutability;
            r.exclusion_filters = filters.clone();
            Ok(())
        })
        .await?;
    Ok(PutImageTagMutabilityResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(record.name),
        image_tag_mutability: Some(record.image_tag_mutability),
        image_tag_mutability_exclusion_filters: if record.exclusion_filters.is_empty() {
            None
        } else {
            Some(record.exclusion_filters)
        },
    })
}

pub(crate) async fn put_image_scanning_configuration(
    registry: &Registry,
    req: PutImageScanningConfigurationRequest,
    _caller: &Caller,
) -> Result<PutImageScanningConfigurationResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let scan_on_push = req.image_scanning_configuration.scan_on_push.unwrap_or(false);
    let record = registry
        .update_repository(&req.repository_name, |r| {
            r.scan_on_push = scan_on_push;
            Ok(())
        })
        .await?;
    Ok(PutImageScanningConfigurationResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(record.name),
        image_scanning_configuration: Some(ImageScanningConfiguration { scan_on_push: Some(record.scan_on_push) }),
    })
}

/// The repository an ARN names (it must be one of this registry's).
fn repository_of_arn(registry: &Registry, arn: &str) -> Result<String, EcrError> {
    let prefix = format!("arn:aws:ecr:{}:{}:repository/", registry.config.region, registry.config.account_id);
    let name = arn.strip_prefix(&prefix).ok_or_else(|| invalid(format!("invalid resourceArn {arn:?}")))?;
    check_name(name)?;
    Ok(name.to_string())
}

pub(crate) async fn tag_resource(
    registry: &Registry,
    req: TagResourceRequest,
    _caller: &Caller,
) -> Result<TagResourceResponse, EcrError> {
    let name = repository_of_arn(registry, &req.resource_arn)?;
    check_tags(&req.tags)?;
    let result = registry.update_repository(&name, |r| merge_tags(&mut r.tags, &req.tags)).await;
    match result {
        Ok(_) => Ok(TagResourceResponse {}),
        Err(RegistryError::InvalidParameter { reason }) => Err(EcrError::TooManyTags { message: reason }),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn untag_resource(
    registry: &Registry,
    req: UntagResourceRequest,
    _caller: &Caller,
) -> Result<UntagResourceResponse, EcrError> {
    let name = repository_of_arn(registry, &req.resource_arn)?;
    registry
        .update_repository(&name, |r| {
            r.tags.retain(|t| !req.tag_keys.contains(&t.key));
            Ok(())
        })
        .await?;
    Ok(UntagResourceResponse {})
}

pub(crate) async fn list_tags_for_resource(
    registry: &Registry,
    req: ListTagsForResourceRequest,
    _caller: &Caller,
) -> Result<ListTagsForResourceResponse, EcrError> {
    let name = repository_of_arn(registry, &req.resource_arn)?;
    let record = registry.repository(&name)?;
    Ok(ListTagsForResourceResponse { tags: Some(record.tags.clone()) })
}

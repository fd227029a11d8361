//! UpdateImageStorageClass: archive an image (it stays listed and described, but no pull is served) or restore
//! it to standard storage (see [`crate::storage_class`]).

use super::{Caller, EcrError, check_name, check_registry, invalid};
use crate::Registry;
use crate::error::RegistryError;
use crate::storage_class::StorageClassError;
use berth_model::ecr::*;

/// The digest an image identifier names in `repo`, or ECR's ImageNotFoundException.
fn resolve(registry: &Registry, repo: &str, id: &ImageIdentifier) -> Result<String, EcrError> {
    let state = registry.index.read();
    let entry = state.existing_repo(repo)?;
    let by_tag = id.image_tag.as_ref().map(|t| entry.tags.get(t).map(|(d, _)| d.clone()));
    let digest = match (&id.image_digest, by_tag) {
        (None, None) => return Err(invalid("imageId needs imageDigest or imageTag")),
        (Some(d), Some(Some(t))) if d != &t => None,
        (_, Some(found)) => found,
        (Some(d), None) => Some(d.clone()),
    };
    digest.filter(|d| entry.images.contains_key(d)).ok_or_else(|| EcrError::ImageNotFound {
        message: format!(
            "The image with imageId {{imageDigest:'{}', imageTag:'{}'}} does not exist within the repository with name '{repo}' in the registry with id '{}'",
            id.image_digest.as_deref().unwrap_or("null"),
            id.image_tag.as_deref().unwrap_or("null"),
            registry.config.account_id
        ),
    })
}

pub(crate) async fn update_image_storage_class(
    registry: &Registry,
    req: UpdateImageStorageClassRequest,
    _caller: &Caller,
) -> Result<UpdateImageStorageClassResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let digest = resolve(registry, &req.repository_name, &req.image_id)?;
    let archive = req.target_storage_class == TargetStorageClass::Archive;
    let status = registry.set_storage_class(&req.repository_name, &digest, archive).await.map_err(|e| match e {
        StorageClassError::NotSupported(message) => EcrError::ImageStorageClassUpdateNotSupported { message },
        StorageClassError::Registry(e @ RegistryError::ManifestUnknown { .. }) => {
            EcrError::ImageNotFound { message: e.to_string() }
        }
        StorageClassError::Registry(e) => e.into(),
    })?;
    Ok(UpdateImageStorageClassResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        image_id: Some(ImageIdentifier { image_digest: Some(digest), image_tag: req.image_id.image_tag }),
        image_status: Some(status),
    })
}

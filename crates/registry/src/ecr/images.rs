//! Image operations: ListImages, DescribeImages, BatchGetImage, BatchDeleteImage, PutImage.

use super::{Caller, EcrError, after_token, check_name, check_registry, invalid, page_size, paginate};
use crate::Registry;
use crate::digest::Digest;
use crate::error::RegistryError;
use crate::images::PushMode;
use crate::meta::{ImageEntry, RepoEntry};
use crate::names;
use berth_model::ecr::*;

/// An image identifier resolved to a digest, or why it cannot be.
fn resolve(entry: &RepoEntry, id: &ImageIdentifier) -> Result<String, (ImageFailureCode, String)> {
    if let Some(d) = &id.image_digest
        && Digest::parse(d).is_err()
    {
        return Err((ImageFailureCode::InvalidImageDigest, format!("Invalid request parameters: image digest {d:?}")));
    }
    if let Some(t) = &id.image_tag
        && names::tag_problem(t, names::MAX_ECR_TAG).is_some()
    {
        return Err((ImageFailureCode::InvalidImageTag, format!("Invalid request parameters: image tag {t:?}")));
    }
    let by_tag = id.image_tag.as_ref().map(|t| entry.tags.get(t).map(|(d, _)| d.clone()));
    match (&id.image_digest, by_tag) {
        (None, None) => Err((
            ImageFailureCode::MissingDigestAndTag,
            "Invalid request parameters: image digest and tag are missing".into(),
        )),
        (_, Some(None)) => Err((ImageFailureCode::ImageNotFound, "Requested image not found".into())),
        (Some(d), Some(Some(t))) if d != &t => Err((
            ImageFailureCode::ImageTagDoesNotMatchDigest,
            "Invalid request parameters: image tag does not match digest".into(),
        )),
        (_, Some(Some(digest))) => Ok(digest),
        (Some(d), None) if entry.images.contains_key(d) => Ok(d.clone()),
        (Some(_), None) => Err((ImageFailureCode::ImageNotFound, "Requested image not found".into())),
    }
}

fn failure(id: &ImageIdentifier, (code, reason): (ImageFailureCode, String)) -> ImageFailure {
    ImageFailure { image_id: Some(id.clone()), failure_code: Some(code), failure_reason: Some(reason) }
}

fn check_ids(ids: &[ImageIdentifier]) -> Result<(), EcrError> {
    if ids.is_empty() || ids.len() > 100 {
        return Err(invalid("imageIds must contain between 1 and 100 items"));
    }
    Ok(())
}

fn tag_status_matches(status: Option<TagStatus>, tagged: bool) -> bool {
    match status.unwrap_or(TagStatus::Any) {
        TagStatus::Any => true,
        TagStatus::Tagged => tagged,
        TagStatus::Untagged => !tagged,
    }
}

fn repo_snapshot<T>(registry: &Registry, name: &str, f: impl FnOnce(&RepoEntry) -> T) -> Result<T, EcrError> {
    check_name(name)?;
    let state = registry.index.read();
    let entry = state.existing_repo(name)?;
    Ok(f(entry))
}

pub(crate) async fn list_images(
    registry: &Registry,
    req: ListImagesRequest,
    _caller: &Caller,
) -> Result<ListImagesResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    let size = page_size(req.max_results, 100, 1000)?;
    let after = after_token(req.next_token.as_ref())?;
    let status = req.filter.as_ref().and_then(|f| f.tag_status);
    let image_status = req.filter.as_ref().and_then(|f| f.image_status);
    let mut ids = repo_snapshot(registry, &req.repository_name, |entry| {
        let mut ids = Vec::new();
        for (digest, image) in &entry.images {
            let tags = entry.tags_for(digest);
            if !tag_status_matches(status, !tags.is_empty())
                || !crate::storage_class::status_matches(image_status, image.record.image_status())
            {
                continue;
            }
            if tags.is_empty() {
                ids.push(ImageIdentifier { image_digest: Some(digest.clone()), image_tag: None });
            }
            for tag in tags {
                ids.push(ImageIdentifier { image_digest: Some(digest.clone()), image_tag: Some(tag) });
            }
        }
        ids
    })?;
    let key = |i: &ImageIdentifier| {
        format!("{}/{}", i.image_digest.as_deref().unwrap_or(""), i.image_tag.as_deref().unwrap_or(""))
    };
    ids.sort_by_key(key);
    let (page, next) = paginate(ids, key, after, size);
    Ok(ListImagesResponse { image_ids: Some(page), next_token: next })
}

/// The ECR description of an image.
pub(crate) fn image_detail(registry: &Registry, repo: &str, entry: &RepoEntry, image: &ImageEntry) -> ImageDetail {
    let digest = &image.record.digest;
    let tags = entry.tags_for(digest);
    let scan = entry.scans.get(digest).map(|(s, _)| s.clone());
    let recorded = entry.pulls.get(digest).copied();
    ImageDetail {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(repo.to_string()),
        image_digest: Some(digest.clone()),
        image_tags: if tags.is_empty() { None } else { Some(tags) },
        image_size_in_bytes: Some(image.record.size),
        image_pushed_at: Some(image.record.pushed_at),
        image_scan_status: scan
            .as_ref()
            .map(|s| ImageScanStatus { status: Some(s.status), description: Some(s.description.clone()) }),
        image_scan_findings_summary: scan.as_ref().filter(|s| s.completed_at.is_some()).map(|s| {
            ImageScanFindingsSummary {
                image_scan_completed_at: s.completed_at,
                vulnerability_source_updated_at: s.source_updated_at,
                finding_severity_counts: Some(s.severity_counts.clone()),
            }
        }),
        image_manifest_media_type: Some(image.record.media_type.clone()),
        artifact_media_type: image.record.config_media_type.clone(),
        last_recorded_pull_time: registry.last_pull(repo, digest, recorded),
        subject_manifest_digest: image.record.subject.clone(),
        image_status: Some(image.record.image_status()),
        last_archived_at: image.record.last_archived_at,
        last_activated_at: image.record.last_activated_at,
    }
}

pub(crate) async fn describe_images(
    registry: &Registry,
    req: DescribeImagesRequest,
    _caller: &Caller,
) -> Result<DescribeImagesResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    let ids = req.image_ids.filter(|i| !i.is_empty());
    if ids.is_some() && (req.max_results.is_some() || req.next_token.is_some()) {
        return Err(invalid("maxResults and nextToken cannot be used with imageIds"));
    }
    if let Some(ids) = &ids {
        check_ids(ids)?;
    }
    let size = page_size(req.max_results, 100, 1000)?;
    let after = after_token(req.next_token.as_ref())?;
    let status = req.filter.as_ref().and_then(|f| f.tag_status);
    let image_status = req.filter.as_ref().and_then(|f| f.image_status);
    let name = req.repository_name.clone();
    let details = repo_snapshot(registry, &name, |entry| -> Result<Vec<ImageDetail>, EcrError> {
        let digests: Vec<String> = match &ids {
            Some(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    let digest = resolve(entry, id).map_err(|(_, reason)| EcrError::ImageNotFound {
                        message: format!("The image with imageId {{imageDigest:'{}', imageTag:'{}'}} does not exist within the repository with name '{name}' in the registry with id '{}': {reason}",
                            id.image_digest.as_deref().unwrap_or("null"), id.image_tag.as_deref().unwrap_or("null"), registry.config.account_id),
                    })?;
                    if !out.contains(&digest) {
                        out.push(digest);
                    }
                }
                out
            }
            None => entry.images.keys().cloned().collect(),
        };
        Ok(digests
            .iter()
            .filter_map(|d| entry.images.get(d))
            .filter(|i| {
                ids.is_some()
                    || (tag_status_matches(status, !entry.tags_for(&i.record.digest).is_empty())
                        && crate::storage_class::status_matches(image_status, i.record.image_status()))
            })
            .map(|i| image_detail(registry, &name, entry, i))
            .collect())
    })??;
    let (page, next) = if ids.is_some() {
        (details, None)
    } else {
        let mut sorted = details;
        sorted.sort_by(|a, b| a.image_digest.cmp(&b.image_digest));
        paginate(sorted, |d| d.image_digest.clone().unwrap_or_default(), after, size)
    };
    Ok(DescribeImagesResponse { image_details: Some(page), next_token: next })
}

pub(crate) async fn batch_get_image(
    registry: &Registry,
    req: BatchGetImageRequest,
    caller: &Caller,
) -> Result<BatchGetImageResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_ids(&req.image_ids)?;
    let accepted = req.accepted_media_types.filter(|a| !a.is_empty());
    let name = req.repository_name.clone();
    let (images, failures) = repo_snapshot(registry, &name, |entry| {
        let (mut images, mut failures) = (Vec::new(), Vec::new());
        for id in &req.image_ids {
            let digest = match resolve(entry, id) {
                Ok(d) => d,
                Err(f) => {
                    failures.push(failure(id, f));
                    continue;
                }
            };
            let Some(image) = entry.images.get(&digest) else {
                failures.push(failure(id, (ImageFailureCode::ImageNotFound, "Requested image not found".into())));
                continue;
            };
            if !image.record.is_pullable() {
                let reason = "The image is archived; restore it (UpdateImageStorageClass STANDARD) to pull it".into();
                failures.push(failure(id, (ImageFailureCode::ImageInaccessible, reason)));
                continue;
            }
            if let Some(accepted) = &accepted
                && !accepted.contains(&image.record.media_type)
            {
                let reason =
                    format!("the image's media type {} is not among acceptedMediaTypes", image.record.media_type);
                failures.push(failure(id, (ImageFailureCode::ImageNotFound, reason)));
                continue;
            }
            images.push(Image {
                registry_id: Some(registry.config.account_id.clone()),
                repository_name: Some(name.clone()),
                image_id: Some(ImageIdentifier { image_digest: Some(digest), image_tag: id.image_tag.clone() }),
                image_manifest: Some(image.record.manifest.clone()),
                image_manifest_media_type: Some(image.record.media_type.clone()),
            });
        }
        (images, failures)
    })?;
    for image in &images {
        if let Some(d) = image.image_id.as_ref().and_then(|i| i.image_digest.as_ref()) {
            registry.record_pull(&name, d, &caller.arn);
        }
    }
    Ok(BatchGetImageResponse { images: Some(images), failures: Some(failures) })
}

pub(crate) async fn batch_delete_image(
    registry: &Registry,
    req: BatchDeleteImageRequest,
    _caller: &Caller,
) -> Result<BatchDeleteImageResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_ids(&req.image_ids)?;
    let name = req.repository_name.clone();
    repo_snapshot(registry, &name, |_| ())?;
    let (mut deleted, mut failures) = (Vec::new(), Vec::new());
    for id in &req.image_ids {
        let resolved =
            repo_snapshot(registry, &name, |entry| resolve(entry, id).map(|d| (d.clone(), entry.tags_for(&d))))?;
        let (digest, tags) = match resolved {
            Ok(r) => r,
            Err(f) => {
                failures.push(failure(id, f));
                continue;
            }
        };
        let result = match &id.image_tag {
            Some(tag) if tags.len() > 1 => registry.delete_tag(&name, tag).await.map(|_| vec![tag.clone()]),
            _ => registry.delete_manifest(&name, &digest).await.map(|_| tags.clone()),
        };
        match result {
            Ok(removed) if removed.is_empty() => {
                deleted.push(ImageIdentifier { image_digest: Some(digest), image_tag: None });
            }
            Ok(removed) => {
                for tag in removed {
                    deleted.push(ImageIdentifier { image_digest: Some(digest.clone()), image_tag: Some(tag) });
                }
            }
            Err(RegistryError::ReferencedByIndex { index, .. }) => failures.push(failure(
                id,
                (
                    ImageFailureCode::ImageReferencedByManifestList,
                    format!("the image is referenced by manifest list {index}"),
                ),
            )),
            Err(RegistryError::ManifestUnknown { .. }) => {
                failures.push(failure(id, (ImageFailureCode::ImageNotFound, "Requested image not found".into())))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(BatchDeleteImageResponse { image_ids: Some(deleted), failures: Some(failures) })
}

pub(crate) async fn put_image(
    registry: &Registry,
    req: PutImageRequest,
    _caller: &Caller,
) -> Result<PutImageResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    if let Some(tag) = &req.image_tag
        && let Some(reason) = names::tag_problem(tag, names::MAX_ECR_TAG)
    {
        return Err(invalid(format!("Invalid parameter at 'imageTag' failed to satisfy constraint: {reason}")));
    }
    let expected = match &req.image_digest {
        Some(d) => Some(Digest::parse(d).map_err(|e| invalid(format!("imageDigest: {e}")))?),
        None => None,
    };
    if req.image_manifest.is_empty() {
        return Err(invalid("imageManifest must not be empty"));
    }
    let tags: Vec<String> = req.image_tag.iter().cloned().collect();
    let pushed = registry
        .put_manifest(
            &req.repository_name,
            req.image_manifest.as_bytes(),
            req.image_manifest_media_type.as_deref(),
            expected.as_ref(),
            &tags,
            PushMode::RejectUnchanged,
        )
        .await
        .map_err(|e| match e {
            RegistryError::DigestMismatch { .. } => EcrError::ImageDigestDoesNotMatch { message: e.to_string() },
            other => other.into(),
        })?;
    Ok(PutImageResponse {
        image: Some(Image {
            registry_id: Some(registry.config.account_id.clone()),
            repository_name: Some(req.repository_name),
            image_id: Some(ImageIdentifier { image_digest: Some(pushed.digest.to_string()), image_tag: req.image_tag }),
            image_manifest: Some(req.image_manifest),
            image_manifest_media_type: Some(pushed.media_type),
        }),
    })
}

//! Scanning operations: StartImageScan and DescribeImageScanFindings.

use super::{Caller, EcrError, after_token, check_name, check_registry, page_size, paginate};
use crate::Registry;
use berth_model::ecr::*;

fn resolve(registry: &Registry, repo: &str, id: &ImageIdentifier) -> Result<String, EcrError> {
    let state = registry.index.read();
    let entry = state.existing_repo(repo)?;
    let digest = match (&id.image_digest, &id.image_tag) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(t)) => entry.tags.get(t).map(|(d, _)| d.clone()),
        (None, None) => return Err(super::invalid("imageId needs imageDigest or imageTag")),
    };
    digest.filter(|d| entry.images.contains_key(d)).ok_or_else(|| EcrError::ImageNotFound {
        message: format!(
            "The image with imageId {{imageDigest:'{}', imageTag:'{}'}} does not exist within the repository with name '{repo}'",
            id.image_digest.as_deref().unwrap_or("null"),
            id.image_tag.as_deref().unwrap_or("null")
        ),
    })
}

pub(crate) async fn start_image_scan(
    registry: &Registry,
    req: StartImageScanRequest,
    _caller: &Caller,
) -> Result<StartImageScanResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let digest = resolve(registry, &req.repository_name, &req.image_id)?;
    let archived = registry
        .index
        .read()
        .repo(&req.repository_name)
        .and_then(|r| r.images.get(&digest).map(|i| !i.record.is_pullable()))
        .unwrap_or(false);
    if archived {
        return Err(EcrError::ImageArchived {
            message: format!(
                "The image {digest} in the repository with name '{}' is archived and cannot be scanned; restore it \
                 with UpdateImageStorageClass first",
                req.repository_name
            ),
        });
    }
    let status = registry.start_scan(&req.repository_name, &digest).await?;
    Ok(StartImageScanResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        image_id: Some(ImageIdentifier { image_digest: Some(digest), image_tag: req.image_id.image_tag }),
        image_scan_status: Some(status),
    })
}

pub(crate) async fn describe_image_scan_findings(
    registry: &Registry,
    req: DescribeImageScanFindingsRequest,
    _caller: &Caller,
) -> Result<DescribeImageScanFindingsResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let size = page_size(req.max_results, 100, 1000)?;
    let after = after_token(req.next_token.as_ref())?;
    let digest = resolve(registry, &req.repository_name, &req.image_id)?;
    let scan = registry
        .index
        .read()
        .repo(&req.repository_name)
        .and_then(|r| r.scans.get(&digest).map(|(s, _)| s.clone()))
        .ok_or_else(|| EcrError::ScanNotFound {
            message: format!(
                "Image scan does not exist for the image with '{{imageDigest:'{digest}'}}' in the repository with name '{}'",
                req.repository_name
            ),
        })?;
    let findings: Vec<(String, ImageScanFinding)> =
        scan.findings.iter().enumerate().map(|(i, f)| (format!("{i:08}"), f.clone())).collect();
    let (page, next) = paginate(findings, |(k, _)| k.clone(), after, size);
    let complete = scan.completed_at.is_some();
    Ok(DescribeImageScanFindingsResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        image_id: Some(ImageIdentifier { image_digest: Some(digest), image_tag: req.image_id.image_tag }),
        image_scan_status: Some(ImageScanStatus {
            status: Some(scan.status),
            description: Some(scan.description.clone()),
        }),
        image_scan_findings: complete.then(|| ImageScanFindings {
            image_scan_completed_at: scan.completed_at,
            vulnerability_source_updated_at: scan.source_updated_at,
            finding_severity_counts: Some(scan.severity_counts.clone()),
            findings: Some(page.into_iter().map(|(_, f)| f).collect()),
            enhanced_findings: None,
        }),
        next_token: next,
    })
}

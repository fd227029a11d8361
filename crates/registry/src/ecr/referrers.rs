//! ListImageReferrers: the artifacts (manifests with a `subject`) that refer to an image, as the OCI referrers
//! API (`/v2/<name>/referrers/<digest>`) lists them, with ECR's filters (artifact types, artifact status).

use super::{Caller, EcrError, after_token, check_name, check_registry, invalid, page_size, paginate};
use crate::Registry;
use crate::digest::Digest;
use berth_model::ecr::*;

/// The most artifact types one filter names (the model's list maximum).
const MAX_ARTIFACT_TYPES: usize = 5;

fn status_matches(filter: Option<ArtifactStatusFilter>, status: ArtifactStatus) -> bool {
    match filter.unwrap_or(ArtifactStatusFilter::Active) {
        ArtifactStatusFilter::Any => true,
        ArtifactStatusFilter::Active => status == ArtifactStatus::Active,
        ArtifactStatusFilter::Archived => status == ArtifactStatus::Archived,
        ArtifactStatusFilter::Activating => status == ArtifactStatus::Activating,
    }
}

fn artifact_status(status: ImageStatus) -> ArtifactStatus {
    match status {
        ImageStatus::Active => ArtifactStatus::Active,
        ImageStatus::Archived => ArtifactStatus::Archived,
        ImageStatus::Activating => ArtifactStatus::Activating,
    }
}

pub(crate) async fn list_image_referrers(
    registry: &Registry,
    req: ListImageReferrersRequest,
    _caller: &Caller,
) -> Result<ListImageReferrersResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let size = page_size(req.max_results, 20, 50)?;
    let after = after_token(req.next_token.as_ref())?;
    let subject = &req.subject_id.image_digest;
    Digest::parse(subject).map_err(|e| invalid(format!("Invalid parameter at 'subjectId.imageDigest': {e}")))?;
    let types = req.filter.as_ref().and_then(|f| f.artifact_types.clone()).unwrap_or_default();
    if types.len() > MAX_ARTIFACT_TYPES {
        return Err(invalid(format!("filter.artifactTypes may name at most {MAX_ARTIFACT_TYPES} artifact types")));
    }
    if types.iter().any(|t| t.is_empty() || t.len() > 255) {
        return Err(invalid("filter.artifactTypes members must have length between 1 and 255"));
    }
    let wanted_status = req.filter.as_ref().and_then(|f| f.artifact_status);
    let mut referrers: Vec<ImageReferrer> = {
        let state = registry.index.read();
        let entry = state.existing_repo(&req.repository_name)?;
        entry
            .images
            .values()
            .filter(|i| i.record.subject.as_deref() == Some(subject.as_str()))
            .filter(|i| types.is_empty() || i.record.artifact_type.as_ref().is_some_and(|t| types.contains(t)))
            .map(|i| (i, artifact_status(i.record.image_status())))
            .filter(|(_, status)| status_matches(wanted_status, *status))
            .map(|(i, status)| ImageReferrer {
                digest: i.record.digest.clone(),
                media_type: i.record.media_type.clone(),
                artifact_type: i.record.artifact_type.clone(),
                size: i.manifest.len() as i64,
                annotations: i.record.annotations.clone(),
                artifact_status: Some(status),
            })
            .collect()
    };
    referrers.sort_by(|a, b| a.digest.cmp(&b.digest));
    let (page, next) = paginate(referrers, |r| r.digest.clone(), after, size);
    Ok(ListImageReferrersResponse { referrers: Some(page), next_token: next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_artifacts_without_a_status_filter() {
        assert!(status_matches(None, ArtifactStatus::Active));
        assert!(!status_matches(None, ArtifactStatus::Archived));
        assert!(status_matches(Some(ArtifactStatusFilter::Any), ArtifactStatus::Archived));
        assert_eq!(artifact_status(ImageStatus::Archived), ArtifactStatus::Archived);
    }
}

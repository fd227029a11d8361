//! Layer operations: GetDownloadUrlForLayer, BatchCheckLayerAvailability, and the layer upload trio
//! (InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload) on the same upload sessions as the OCI API.

use super::{Caller, EcrError, check_name, check_registry, invalid};
use crate::Registry;
use crate::auth::Claims;
use crate::digest::{Algorithm, Digest};
use crate::error::RegistryError;
use crate::uploads::Chunk;
use berth_model::ecr::*;
use bytes::Bytes;

/// The part size InitiateLayerUpload advertises (ECR's).
const PART_SIZE: i64 = 10 * 1024 * 1024;
/// How long a layer download URL works.
const DOWNLOAD_URL_TTL: f64 = 3600.0;

pub(crate) async fn get_download_url_for_layer(
    registry: &Registry,
    req: GetDownloadUrlForLayerRequest,
    caller: &Caller,
) -> Result<GetDownloadUrlForLayerResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let digest = Digest::parse(&req.layer_digest).map_err(|e| invalid(format!("layerDigest: {e}")))?;
    registry.require_repo(&req.repository_name)?;
    let visible = registry.index.read().repo(&req.repository_name).is_some_and(|r| r.has_blob(&req.layer_digest));
    if !visible || registry.blobs.stat(&digest).await.map_err(RegistryError::from)?.is_none() {
        return Err(EcrError::LayersNotFound {
            message: format!("the layer {} does not exist in repository '{}'", req.layer_digest, req.repository_name),
        });
    }
    let claims = Claims {
        sub: caller.arn.clone(),
        acct: registry.config.account_id.clone(),
        ak: caller.access_key_id.clone(),
        exp: registry.now() + DOWNLOAD_URL_TTL,
        push: false,
        repo: Some(req.repository_name.clone()),
        blob: Some(req.layer_digest.clone()),
    };
    let token = registry.auth.issue(&claims);
    let url = format!(
        "{}://{}/v2/{}/blobs/{}?X-Berth-Token={token}",
        registry.config.public_scheme, registry.config.public_endpoint, req.repository_name, req.layer_digest
    );
    Ok(GetDownloadUrlForLayerResponse { download_url: Some(url), layer_digest: Some(req.layer_digest) })
}

pub(crate) async fn batch_check_layer_availability(
    registry: &Registry,
    req: BatchCheckLayerAvailabilityRequest,
    _caller: &Caller,
) -> Result<BatchCheckLayerAvailabilityResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    if req.layer_digests.is_empty() || req.layer_digests.len() > 100 {
        return Err(invalid("layerDigests must contain between 1 and 100 items"));
    }
    registry.require_repo(&req.repository_name)?;
    let (mut layers, mut failures) = (Vec::new(), Vec::new());
    for d in &req.layer_digests {
        let Ok(digest) = Digest::parse(d) else {
            failures.push(LayerFailure {
                layer_digest: Some(d.clone()),
                failure_code: Some(LayerFailureCode::InvalidLayerDigest),
                failure_reason: Some("Invalid layer digest".into()),
            });
            continue;
        };
        let known =
            registry.index.read().repo(&req.repository_name).and_then(|r| r.has_blob(d).then(|| r.blob_size(d)));
        let _gc = registry.gc_lock.read().await;
        let stored = match known {
            Some(_) => registry.blobs.stat(&digest).await.map_err(RegistryError::from)?,
            None => None,
        };
        match stored {
            Some(size) => {
                registry.touch(d);
                drop(_gc);
                layers.push(Layer {
                    layer_digest: Some(d.clone()),
                    layer_availability: Some(LayerAvailability::Available),
                    layer_size: Some(size as i64),
                    media_type: None,
                });
            }
            None => failures.push(LayerFailure {
                layer_digest: Some(d.clone()),
                failure_code: Some(LayerFailureCode::MissingLayerDigest),
                failure_reason: Some("Could not find layer".into()),
            }),
        }
    }
    Ok(BatchCheckLayerAvailabilityResponse { layers: Some(layers), failures: Some(failures) })
}

pub(crate) async fn initiate_layer_upload(
    registry: &Registry,
    req: InitiateLayerUploadRequest,
    _caller: &Caller,
) -> Result<InitiateLayerUploadResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let status = registry.upload_start(&req.repository_name, Algorithm::Sha256).await?;
    Ok(InitiateLayerUploadResponse { upload_id: Some(status.id), part_size: Some(PART_SIZE) })
}

pub(crate) async fn upload_layer_part(
    registry: &Registry,
    req: UploadLayerPartRequest,
    _caller: &Caller,
) -> Result<UploadLayerPartResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    registry.require_repo(&req.repository_name)?;
    let part = req.layer_part_blob.0;
    if req.part_first_byte < 0 || req.part_last_byte < req.part_first_byte {
        return Err(EcrError::InvalidLayerPart {
            message: format!(
                "partFirstByte {} and partLastByte {} are not a range",
                req.part_first_byte, req.part_last_byte
            ),
        });
    }
    if (req.part_last_byte - req.part_first_byte + 1) as u64 != part.len() as u64 {
        return Err(EcrError::InvalidLayerPart {
            message: format!(
                "the part has {} bytes but partFirstByte..partLastByte covers {}",
                part.len(),
                req.part_last_byte - req.part_first_byte + 1
            ),
        });
    }
    let chunk = Chunk::bytes(Some(req.part_first_byte as u64), Bytes::from(part));
    let status = registry.upload_append(&req.repository_name, &req.upload_id, chunk).await?;
    Ok(UploadLayerPartResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        upload_id: Some(req.upload_id),
        last_byte_received: Some(status.offset as i64 - 1),
    })
}

pub(crate) async fn complete_layer_upload(
    registry: &Registry,
    req: CompleteLayerUploadRequest,
    _caller: &Caller,
) -> Result<CompleteLayerUploadResponse, EcrError> {
    check_registry(registry, req.registry_id.as_ref())?;
    check_name(&req.repository_name)?;
    let [digest] = req.layer_digests.as_slice() else {
        return Err(invalid("layerDigests must contain exactly one digest"));
    };
    let digest = Digest::parse(digest).map_err(|e| invalid(format!("layerDigests: {e}")))?;
    registry.require_repo(&req.repository_name)?;
    let already = registry.index.read().repo(&req.repository_name).is_some_and(|r| r.has_blob(&digest.to_string()));
    if already && registry.blobs.stat(&digest).await.map_err(RegistryError::from)?.is_some() {
        registry.upload_cancel(&req.repository_name, &req.upload_id).await?;
        return Err(EcrError::LayerAlreadyExists {
            message: format!("the layer {digest} already exists in repository '{}'", req.repository_name),
        });
    }
    let blob = registry.upload_finish(&req.repository_name, &req.upload_id, &digest, None, false).await?;
    Ok(CompleteLayerUploadResponse {
        registry_id: Some(registry.config.account_id.clone()),
        repository_name: Some(req.repository_name),
        upload_id: Some(req.upload_id),
        layer_digest: Some(blob.digest.to_string()),
    })
}

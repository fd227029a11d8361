//! AddTagsToResource, ListTagsForResource, RemoveTagsFromResource, for parameters (the one resource type here).

use super::records::param_key;
use crate::records::{self, encode};
use crate::{Secrets, SecretsError};
use berth_model::ssm::*;
use berth_store::Txn;

fn check_type(t: ResourceTypeForTagging) -> Result<(), SecretsError> {
    if t != ResourceTypeForTagging::Parameter {
        return Err(SecretsError::new(
            "InvalidResourceType",
            format!("Berth serves Parameter Store only: resource type {t} is not supported."),
        ));
    }
    Ok(())
}

async fn find(s: &Secrets, id: &str) -> Result<(super::records::ParamRecord, i64), SecretsError> {
    s.find_param(id).await?.ok_or_else(|| {
        SecretsError::new(
            "InvalidResourceId",
            "The resource ID is not valid. Verify that you entered the correct ID and try again.",
        )
    })
}

pub(crate) async fn add(s: &Secrets, req: AddTagsToResourceRequest) -> Result<crate::wire::Empty, SecretsError> {
    check_type(req.resource_type)?;
    for tag in &req.tags {
        crate::wire::check_len("tags.member.key", &tag.key, 1, 128)?;
        crate::wire::check_len("tags.member.value", &tag.value, 0, 256)?;
    }
    let _writes = s.writes.lock().await;
    let (mut param, revision) = find(s, &req.resource_id).await?;
    for tag in req.tags {
        match param.tags.iter_mut().find(|(k, _)| *k == tag.key) {
            Some(existing) => existing.1 = tag.value,
            None => param.tags.push((tag.key, tag.value)),
        }
    }
    if param.tags.len() > 50 {
        return Err(SecretsError::new(
            "TooManyTagsError",
            "The Targets parameter includes too many tags. Remove one or more tags and try the command again.",
        ));
    }
    let key = param_key(&param.name);
    records::commit_or_conflict(&s.store, Txn::new().expect(key.clone(), revision).put(key, encode(&param)?)).await?;
    Ok(crate::wire::Empty {})
}

pub(crate) async fn list(
    s: &Secrets,
    req: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResult, SecretsError> {
    check_type(req.resource_type)?;
    let (param, _) = find(s, &req.resource_id).await?;
    Ok(ListTagsForResourceResult {
        tag_list: Some(param.tags.into_iter().map(|(key, value)| Tag { key, value }).collect()),
    })
}

pub(crate) async fn remove(
    s: &Secrets,
    req: RemoveTagsFromResourceRequest,
) -> Result<crate::wire::Empty, SecretsError> {
    check_type(req.resource_type)?;
    let _writes = s.writes.lock().await;
    let (mut param, revision) = find(s, &req.resource_id).await?;
    param.tags.retain(|(k, _)| !req.tag_keys.contains(k));
    let key = param_key(&param.name);
    records::commit_or_conflict(&s.store, Txn::new().expect(key.clone(), revision).put(key, encode(&param)?)).await?;
    Ok(crate::wire::Empty {})
}

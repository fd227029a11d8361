//! Access keys: CreateAccessKey, ListAccessKeys, DeleteAccessKey. The secret is shown once, at creation; the
//! store keeps it sealed.

use super::{Caller, new_id, new_secret, users};
use crate::records::{AccessKeyRecord, SCHEMA, access_key_key};
use crate::state::{KeyEntry, seal_context};
use crate::{Iam, IamError, Identity};
use berth_model::iam as wire;
use berth_store::Txn;
use serde_json::{Value as Json, json};

/// The user an operation is about: the one named, else the calling user.
fn user_name(named: Option<String>, caller: &Caller) -> Result<String, IamError> {
    match (named, &caller.identity) {
        (Some(name), _) => Ok(name),
        (None, Some(Identity::User(name))) => Ok(name.clone()),
        (None, None) => Err(IamError::validation(
            "Berth does not manage the root's access keys through IAM; name a user (UserName).",
        )),
        (None, Some(Identity::Role { .. })) => {
            Err(IamError::validation("Must specify userName when calling with non-User credentials"))
        }
    }
}

pub(super) async fn create(iam: &Iam, req: wire::CreateAccessKeyRequest, caller: &Caller) -> Result<Json, IamError> {
    let name = user_name(req.user_name, caller)?;
    let _w = iam.writes.lock().await;
    let user = users::find(iam, &name)?;
    let count = iam.read().keys.values().filter(|k| k.record.user.eq_ignore_ascii_case(&user.name)).count();
    if count >= iam.config.quotas.access_keys_per_user {
        return Err(IamError::limit(format!(
            "Cannot exceed quota for AccessKeysPerUser: {}",
            iam.config.quotas.access_keys_per_user
        )));
    }
    let id = new_id("AKIA");
    let secret = new_secret(40);
    let sealed = iam
        .sealer
        .seal(&seal_context("key", &id), secret.as_bytes())
        .await
        .map_err(|e| IamError::internal(&format!("sealing an access key: {e}")))?;
    let record = AccessKeyRecord {
        schema: SCHEMA,
        id: id.clone(),
        user: user.name.clone(),
        active: true,
        created: iam.now(),
        secret_sealed: sealed,
    };
    let out = json!({ "AccessKey": {
        "UserName": user.name, "AccessKeyId": id, "Status": "Active", "SecretAccessKey": secret,
        "CreateDate": record.created as f64,
    }});
    let txn = Txn::new().put(access_key_key(&id), serde_json::to_vec(&record)?);
    iam.commit(txn, move |s| {
        s.keys.insert(id, KeyEntry { record, secret });
    })
    .await?;
    Ok(out)
}

pub(super) fn list(iam: &Iam, req: wire::ListAccessKeysRequest, caller: &Caller) -> Result<Json, IamError> {
    let name = user_name(req.user_name, caller)?;
    let user = users::find(iam, &name)?;
    let keys: Vec<Json> = iam
        .read()
        .keys
        .values()
        .filter(|k| k.record.user.eq_ignore_ascii_case(&user.name))
        .map(|k| {
            json!({
                "UserName": user.name, "AccessKeyId": k.record.id,
                "Status": if k.record.active { "Active" } else { "Inactive" }, "CreateDate": k.record.created as f64,
            })
        })
        .collect();
    Ok(json!({ "AccessKeyMetadata": keys, "IsTruncated": false }))
}

pub(super) async fn delete(iam: &Iam, req: wire::DeleteAccessKeyRequest, caller: &Caller) -> Result<Json, IamError> {
    let name = user_name(req.user_name, caller)?;
    let _w = iam.writes.lock().await;
    let user = users::find(iam, &name)?;
    let found =
        iam.read().keys.get(&req.access_key_id).filter(|k| k.record.user.eq_ignore_ascii_case(&user.name)).is_some();
    if !found {
        return Err(IamError::no_such_entity(format!("The Access Key with id {} cannot be found.", req.access_key_id)));
    }
    let id = req.access_key_id;
    iam.commit(Txn::new().delete(access_key_key(&id)), move |s| {
        s.keys.remove(&id);
    })
    .await?;
    Ok(json!({}))
}

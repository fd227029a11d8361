//! Users: CreateUser, GetUser, ListUsers, DeleteUser, TagUser, UntagUser, ListUserTags.

use super::{Caller, check_name, check_path, listed, merge_tags, new_id, page, tags_json};
use crate::records::{SCHEMA, UserRecord, user_key};
use crate::{Iam, IamError, Identity};
use berth_model::iam as wire;
use berth_store::Txn;
use serde_json::{Value as Json, json};

/// A user as the wire shows it.
pub(crate) fn user_json(user: &UserRecord) -> Json {
    let mut out = json!({
        "Path": user.path, "UserName": user.name, "UserId": user.id, "Arn": user.arn,
        "CreateDate": user.created as f64,
    });
    if !user.tags.is_empty() {
        out["Tags"] = tags_json(&user.tags);
    }
    out
}

/// The user named, or IAM's `NoSuchEntity`.
pub(crate) fn find(iam: &Iam, name: &str) -> Result<UserRecord, IamError> {
    iam.read()
        .users
        .get(&name.to_lowercase())
        .cloned()
        .ok_or_else(|| IamError::no_such_entity(format!("The user with name {name} cannot be found.")))
}

/// Writes a user record.
pub(crate) async fn save(iam: &Iam, user: UserRecord) -> Result<(), IamError> {
    let key = user_key(&user.name);
    let txn = Txn::new().put(key.clone(), serde_json::to_vec(&user)?);
    iam.commit(txn, move |s| {
        s.users.insert(user.name.to_lowercase(), user);
    })
    .await
}

pub(super) async fn create(iam: &Iam, req: wire::CreateUserRequest) -> Result<Json, IamError> {
    check_name("UserName", &req.user_name, 64)?;
    let path = check_path(req.path.as_deref())?;
    let _w = iam.writes.lock().await;
    if iam.read().users.contains_key(&req.user_name.to_lowercase()) {
        return Err(IamError::exists(format!("User with name {} already exists.", req.user_name)));
    }
    let mut tags = Vec::new();
    merge_tags(&mut tags, req.tags.unwrap_or_default())?;
    let user = UserRecord {
        schema: SCHEMA,
        arn: format!("arn:aws:iam::{}:user{path}{}", iam.account_id(), req.user_name),
        name: req.user_name,
        id: new_id("AIDA"),
        path,
        created: iam.now(),
        tags,
        permissions: Default::default(),
        groups: Vec::new(),
    };
    let out = json!({ "User": user_json(&user) });
    save(iam, user).await?;
    Ok(out)
}

pub(super) fn get(iam: &Iam, req: wire::GetUserRequest, caller: &Caller) -> Result<Json, IamError> {
    let name = match (req.user_name, &caller.identity) {
        (Some(name), _) => name,
        (None, Some(Identity::User(name))) => name.clone(),
        (None, None) => {
            // The root's own user: AWS answers with the account's root identity.
            let account = iam.account_id();
            return Ok(json!({ "User": {
                "Path": "/", "UserName": "root", "UserId": account,
                "Arn": format!("arn:aws:iam::{account}:root"), "CreateDate": 0.0,
            }}));
        }
        (None, Some(Identity::Role { .. })) => {
            return Err(IamError::validation("Must specify userName when calling with non-User credentials"));
        }
    };
    Ok(json!({ "User": user_json(&find(iam, &name)?) }))
}

pub(super) fn list(iam: &Iam, req: wire::ListUsersRequest) -> Result<Json, IamError> {
    let prefix = req.path_prefix.unwrap_or_else(|| "/".into());
    let users: Vec<Json> = iam.read().users.values().filter(|u| u.path.starts_with(&prefix)).map(user_json).collect();
    let (items, next) = page(&users, req.marker.as_deref(), req.max_items)?;
    Ok(listed("Users", items, next))
}

pub(super) async fn delete(iam: &Iam, req: wire::DeleteUserRequest) -> Result<Json, IamError> {
    let _w = iam.writes.lock().await;
    let user = find(iam, &req.user_name)?;
    if !user.permissions.inline.is_empty() || !user.permissions.attached.is_empty() {
        return Err(IamError::delete_conflict("Cannot delete entity, must delete policies first."));
    }
    if iam.read().keys.values().any(|k| k.record.user.eq_ignore_ascii_case(&user.name)) {
        return Err(IamError::delete_conflict("Cannot delete entity, must delete access keys first."));
    }
    if !user.groups.is_empty() {
        return Err(IamError::delete_conflict("Cannot delete entity, must remove users from group first."));
    }
    let txn = Txn::new().delete(user_key(&user.name));
    iam.commit(txn, |s| {
        s.users.remove(&user.name.to_lowercase());
    })
    .await?;
    Ok(json!({}))
}

pub(super) async fn tag(iam: &Iam, req: wire::TagUserRequest) -> Result<Json, IamError> {
    let _w = iam.writes.lock().await;
    let mut user = find(iam, &req.user_name)?;
    merge_tags(&mut user.tags, req.tags)?;
    save(iam, user).await?;
    Ok(json!({}))
}

pub(super) async fn untag(iam: &Iam, req: wire::UntagUserRequest) -> Result<Json, IamError> {
    let _w = iam.writes.lock().await;
    let mut user = find(iam, &req.user_name)?;
    user.tags.retain(|(k, _)| !req.tag_keys.contains(k));
    save(iam, user).await?;
    Ok(json!({}))
}

pub(super) fn list_tags(iam: &Iam, req: wire::ListUserTagsRequest) -> Result<Json, IamError> {
    let user = find(iam, &req.user_name)?;
    Ok(json!({ "Tags": tags_json(&user.tags), "IsTruncated": false }))
}

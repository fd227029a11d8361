//! Groups: CreateGroup, GetGroup, ListGroups, DeleteGroup, AddUserToGroup, RemoveUserFromGroup,
//! ListGroupsForUser. A group's policies apply to its users.

use super::{check_name, check_path, new_id, users};
use crate::records::{GroupRecord, SCHEMA, group_key};
use crate::{Iam, IamError};
use berth_model::iam as wire;
use berth_store::Txn;
use serde_json::{Value as Json, json};

fn group_json(group: &GroupRecord) -> Json {
    json!({
        "Path": group.path, "GroupName": group.name, "GroupId": group.id, "Arn": group.arn,
        "CreateDate": group.created as f64,
    })
}

/// The group named, or `NoSuchEntity`.
pub(crate) fn find(iam: &Iam, name: &str) -> Result<GroupRecord, IamError> {
    iam.read()
        .groups
        .get(&name.to_lowercase())
        .cloned()
        .ok_or_else(|| IamError::no_such_entity(format!("The group with name {name} cannot be found.")))
}

/// Writes a group record.
pub(crate) async fn save(iam: &Iam, group: GroupRecord) -> Result<(), IamError> {
    let txn = Txn::new().put(group_key(&group.name), serde_json::to_vec(&group)?);
    iam.commit(txn, move |s| {
        s.groups.insert(group.name.to_lowercase(), group);
    })
    .await
}

pub(super) async fn create(iam: &Iam, req: wire::CreateGroupRequest) -> Result<Json, IamError> {
    check_name("GroupName", &req.group_name, 128)?;
    let path = check_path(req.path.as_deref())?;
    let _w = iam.writes.lock().await;
    if iam.read().groups.contains_key(&req.group_name.to_lowercase()) {
        return Err(IamError::exists(format!("Group with name {} already exists.", req.group_name)));
    }
    let group = GroupRecord {
        schema: SCHEMA,
        arn: format!("arn:aws:iam::{}:group{path}{}", iam.account_id(), req.group_name),
        name: req.group_name,
        id: new_id("AGPA"),
        path,
        created: iam.now(),
        permissions: Default::default(),
    };
    let out = json!({ "Group": group_json(&group) });
    save(iam, group).await?;
    Ok(out)
}

pub(super) fn get(iam: &Iam, req: wire::GetGroupRequest) -> Result<Json, IamError> {
    let group = find(iam, &req.group_name)?;
    let members: Vec<Json> = iam
        .read()
        .users
        .values()
        .filter(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name)))
        .map(users::user_json)
        .collect();
    Ok(json!({ "Group": group_json(&group), "Users": members, "IsTruncated": false }))
}

pub(super) fn list(iam: &Iam) -> Result<Json, IamError> {
    let groups: Vec<Json> = iam.read().groups.values().map(group_json).collect();
    Ok(json!({ "Groups": groups, "IsTruncated": false }))
}

pub(super) async fn delete(iam: &Iam, req: wire::DeleteGroupRequest) -> Result<Json, IamError> {
    let _w = iam.writes.lock().await;
    let group = find(iam, &req.group_name)?;
    if !group.permissions.inline.is_empty() || !group.permissions.attached.is_empty() {
        return Err(IamError::delete_conflict("Cannot delete entity, must delete policies first."));
    }
    if iam.read().users.values().any(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name))) {
        return Err(IamError::delete_conflict("Cannot delete entity, must remove users from group first."));
    }
    let name = group.name.to_lowercase();
    iam.commit(Txn::new().delete(group_key(&group.name)), move |s| {
        s.groups.remove(&name);
    })
    .await?;
    Ok(json!({}))
}

pub(super) async fn add_user(iam: &Iam, req: wire::AddUserToGroupRequest) -> Result<Json, IamError> {
    let _w = iam.writes.lock().await;
    let group = find(iam, &req.group_name)?;
    let mut user = users::find(iam, &req.user_name)?;
    if user.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name)) {
        return Ok(json!({}));
    }
    if user.groups.len() >= iam.config.quotas.groups_per_user {
        return Err(IamError::limit(format!(
            "Cannot exceed quota for GroupsPerUser: {}",
            iam.config.quotas.groups_per_user
        )));
    }
    user.groups.push(group.name);
    users::save(iam, user).await?;
    Ok(json!({}))
}

pub(super) async fn remove_user(iam: &Iam, req: wire::RemoveUserFromGroupRequest) -> Result<Json, IamError> {
    let _w = iam.writes.lock().await;
    let group = find(iam, &req.group_name)?;
    let mut user = users::find(iam, &req.user_name)?;
    let before = user.groups.len();
    user.groups.retain(|g| !g.eq_ignore_ascii_case(&group.name));
    if user.groups.len() == before {
        return Err(IamError::no_such_entity(format!(
            "The user with name {} is not in group {}.",
            user.name, group.name
        )));
    }
    users::save(iam, user).await?;
    Ok(json!({}))
}

pub(super) fn for_user(iam: &Iam, req: wire::ListGroupsForUserRequest) -> Result<Json, IamError> {
    let user = users::find(iam, &req.user_name)?;
    let state = iam.read();
    let groups: Vec<Json> =
        user.groups.iter().filter_map(|g| state.groups.get(&g.to_lowercase())).map(group_json).collect();
    Ok(json!({ "Groups": groups, "IsTruncated": false }))
}

//! Roles: CreateRole (with its trust policy), GetRole, ListRoles, DeleteRole, UpdateAssumeRolePolicy, TagRole,
//! UntagRole, ListRoleTags.

use super::{check_name, check_path, encode_document, listed, merge_tags, new_id, page, tags_json};
use crate::policy::{PolicyDocument, PolicyKind};
use crate::records::{RoleRecord, SCHEMA, role_key};
use crate::{Iam, IamError};
use berth_model::iam as wire;
use berth_store::Txn;
use serde_json::{Value as Json, json};

/// The size limit of a trust policy (AWS's default quota: 2,048 characters).
const TRUST_POLICY_CHARS: usize = 2048;

/// A role as the wire shows it.
pub(crate) fn role_json(role: &RoleRecord) -> Json {
    let mut out = json!({
        "Path": role.path, "RoleName": role.name, "RoleId": role.id, "Arn": role.arn,
        "CreateDate": role.created as f64, "AssumeRolePolicyDocument": encode_document(&role.trust),
        "MaxSessionDuration": role.max_session_seconds,
    });
    if let Some(d) = &role.description {
        out["Description"] = json!(d);
    }
    if !role.tags.is_empty() {
        out["Tags"] = tags_json(&role.tags);
    }
    out
}

/// The role named, or `NoSuchEntity`.
pub(crate) fn find(iam: &Iam, name: &str) -> Result<RoleRecord, IamError> {
    iam.read()
        .roles
        .get(&name.to_lowercase())
        .cloned()
        .ok_or_else(|| IamError::no_such_entity(format!("The role with name {name} cannot be found.")))
}

/// Writes a role record.
pub(crate) async fn save(iam: &Iam, role: RoleRecord) -> Result<(), IamError> {
    let txn = Txn::new().put(role_key(&role.name), serde_json::to_vec(&role)?);
    iam.commit(txn, move |s| {
        s.roles.insert(role.name.to_lowercase(), role);
    })
    .await
}

fn check_trust(text: &str) -> Result<(), IamError> {
    if text.chars().filter(|c| !c.is_whitespace()).count() > TRUST_POLICY_CHARS {
        return Err(IamError::limit(format!("Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_CHARS}")));
    }
    PolicyDocument::parse(text, PolicyKind::Trust)?;
    Ok(())
}

pub(super) async fn create(iam: &Iam, req: wire::CreateRoleRequest) -> Result<Json, IamError> {
    check_name("RoleName", &req.role_name, 64)?;
    let path = check_path(req.path.as_deref())?;
    if req.permissions_boundary.is_some() {
        return Err(IamError::invalid_input("Berth does not support permissions boundaries (PermissionsBoundary)."));
    }
    let max = i64::from(req.max_session_duration.unwrap_or(3600));
    if !(3600..=43200).contains(&max) {
        return Err(IamError::validation(format!(
            "1 validation error detected: Value '{max}' at 'maxSessionDuration' failed to satisfy constraint: \
             Member must have value less than or equal to 43200 and greater than or equal to 3600"
        )));
    }
    check_trust(&req.assume_role_policy_document)?;
    let _w = iam.writes.lock().await;
    if iam.read().roles.contains_key(&req.role_name.to_lowercase()) {
        return Err(IamError::exists(format!("Role with name {} already exists.", req.role_name)));
    }
    let mut tags = Vec::new();
    merge_tags(&mut tags, req.tags.unwrap_or_default())?;
    let role = RoleRecord {
        schema: SCHEMA,
        arn: format!("arn:aws:iam::{}:role{path}{}", iam.account_id(), req.role_name),
        name: req.role_name,
        id: new_id("AROA"),
        path,
        created: iam.now(),
        trust: req.assume_role_policy_document,
        description: req.description,
        max_session_seconds: max,
        tags,
        permissions: Default::default(),
    };
    let out = json!({ "Role": role_json(&role) });
    save(iam, role).await?;
    Ok(out)
}

pub(super) fn get(iam: &Iam, req: wire::GetRoleRequest) -> Result<Json, IamError> {
    Ok(json!({ "Role": role_json(&find(iam, &req.role_name)?) }))
}

pub(super) fn list(iam: &Iam, req: wire::ListRolesRequest) -> Result<Json, IamError> {
    let prefix = req.path_prefix.unwrap_or_else(|| "/".into());
    let roles: Vec<Json> = iam.read().roles.values().filter(|r| r.path.starts_with(&prefix)).map(role_json).collect();
    let (items, next) = page(&roles, req.marker.as_deref(), req.max_items)?;
    Ok(listed("Roles", items, next))
}

pub(super) async fn delete(iam: &Iam, req: wire::DeleteRoleRequest) -> Result<Json, IamError> {
    let _w = iam.writes.lock().await;
    let role = find(iam, &req.role_name)?;
    if !role.permissions.attached.is_empty() {
        return Err(IamError::delete_conflict("Cannot delete entity, must detach all policies first."));
    }
    if !role.permissions.inline.is_empty() {
        return Err(IamError::delete_conflict("Cannot delete entity, must delete policies first."));
    }
    let name = role.name.to_lowercase();
    // Its sessions end with it.
    let sessions: Vec<String> = iam
        .read()
        .sessions
        .values()
        .filter(|s| s.record.role.eq_ignore_ascii_case(&role.name))
        .map(|s| s.record.id.clone())
        .collect();
    let mut txn = Txn::new().delete(role_key(&role.name));
    for id in &sessions {
        txn = txn.delete(crate::records::session_key(id));
    }
    iam.commit(txn, move |s| {
        s.roles.remove(&name);
        for id in &sessions {
            s.sessions.remove(id);
        }
    })
    .await?;
    Ok(json!({}))
}

pub(super) async fn update_trust(iam: &Iam, req: wire::UpdateAssumeRolePolicyRequest) -> Result<Json, IamError> {
    check_trust(&req.policy_document)?;
    let _w = iam.writes.lock().await;
    let mut role = find(iam, &req.role_name)?;
    role.trust = req.policy_document;
    save(iam, role).await?;
    Ok(json!({}))
}

pub(super) async fn tag(iam: &Iam, req: wire::TagRoleRequest) -> Result<Json, IamError> {
    let _w = iam.writes.lock().await;
    let mut role = find(iam, &req.role_name)?;
    merge_tags(&mut role.tags, req.tags)?;
    save(iam, role).await?;
    Ok(json!({}))
}

pub(super) async fn untag(iam: &Iam, req: wire::UntagRoleRequest) -> Result<Json, IamError> {
    let _w = iam.writes.lock().await;
    let mut role = find(iam, &req.role_name)?;
    role.tags.retain(|(k, _)| !req.tag_keys.contains(k));
    save(iam, role).await?;
    Ok(json!({}))
}

pub(super) fn list_tags(iam: &Iam, req: wire::ListRoleTagsRequest) -> Result<Json, IamError> {
    let role = find(iam, &req.role_name)?;
    Ok(json!({ "Tags": tags_json(&role.tags), "IsTruncated": false }))
}

//! Managed policies: CreatePolicy, GetPolicy, GetPolicyVersion, ListPolicies, DeletePolicy. AWS managed policies
//! are built in ([`crate::managed`]) and read-only; customer policies keep one version, `v1`.

use super::inline::policy_size;
use super::{check_name, check_path, encode_document, listed, new_id, page};
use crate::managed::{self, MANAGED};
use crate::policy::{PolicyDocument, PolicyKind};
use crate::records::{PolicyRecord, SCHEMA, policy_key};
use crate::{Iam, IamError};
use berth_model::iam as wire;
use berth_store::Txn;
use serde_json::{Value as Json, json};

/// How many users, groups and roles a managed policy is attached to.
fn attachments(iam: &Iam, arn: &str) -> usize {
    let state = iam.read();
    let users = state.users.values().filter(|u| u.permissions.attached.iter().any(|a| a == arn)).count();
    let groups = state.groups.values().filter(|g| g.permissions.attached.iter().any(|a| a == arn)).count();
    let roles = state.roles.values().filter(|r| r.permissions.attached.iter().any(|a| a == arn)).count();
    users + groups + roles
}

fn customer_json(iam: &Iam, p: &PolicyRecord) -> Json {
    let mut out = json!({
        "PolicyName": p.name, "PolicyId": p.id, "Arn": p.arn, "Path": p.path, "DefaultVersionId": "v1",
        "AttachmentCount": attachments(iam, &p.arn), "PermissionsBoundaryUsageCount": 0, "IsAttachable": true,
        "CreateDate": p.created as f64, "UpdateDate": p.created as f64,
    });
    if let Some(d) = &p.description {
        out["Description"] = json!(d);
    }
    out
}

fn managed_json(iam: &Iam, m: &managed::ManagedPolicy) -> Json {
    json!({
        "PolicyName": m.name, "PolicyId": m.id(), "Arn": m.arn(), "Path": m.path, "DefaultVersionId": "v1",
        "AttachmentCount": attachments(iam, &m.arn()), "PermissionsBoundaryUsageCount": 0, "IsAttachable": true,
        "Description": m.description, "CreateDate": 0.0, "UpdateDate": 0.0,
    })
}

/// The policy an ARN names: its wire form and its document.
fn find(iam: &Iam, arn: &str) -> Result<(Json, String), IamError> {
    if let Some(m) = managed::by_arn(arn) {
        return Ok((managed_json(iam, m), m.document.to_string()));
    }
    let found = iam.read().policies.values().find(|p| p.arn == arn).cloned();
    match found {
        Some(p) => Ok((customer_json(iam, &p), p.document)),
        None => Err(IamError::no_such_entity(format!("Policy {arn} was not found."))),
    }
}

pub(super) async fn create(iam: &Iam, req: wire::CreatePolicyRequest) -> Result<Json, IamError> {
    check_name("PolicyName", &req.policy_name, 128)?;
    let path = check_path(req.path.as_deref())?;
    let quota = iam.config.quotas.managed_policy_bytes;
    if policy_size(&req.policy_document) > quota {
        return Err(IamError::limit(format!("Cannot exceed quota for PolicySize: {quota}")));
    }
    PolicyDocument::parse(&req.policy_document, PolicyKind::Identity)?;
    let _w = iam.writes.lock().await;
    if iam.read().policies.contains_key(&req.policy_name.to_lowercase()) {
        return Err(IamError::exists(format!(
            "A policy called {} already exists. Duplicate names are not allowed.",
            req.policy_name
        )));
    }
    let record = PolicyRecord {
        schema: SCHEMA,
        arn: format!("arn:aws:iam::{}:policy{path}{}", iam.account_id(), req.policy_name),
        name: req.policy_name,
        id: new_id("ANPA"),
        path,
        description: req.description,
        created: iam.now(),
        document: req.policy_document,
    };
    let out = json!({ "Policy": customer_json(iam, &record) });
    let txn = Txn::new().put(policy_key(&record.name), serde_json::to_vec(&record)?);
    iam.commit(txn, move |s| {
        s.policies.insert(record.name.to_lowercase(), record);
    })
    .await?;
    Ok(out)
}

pub(super) fn get(iam: &Iam, req: wire::GetPolicyRequest) -> Result<Json, IamError> {
    Ok(json!({ "Policy": find(iam, &req.policy_arn)?.0 }))
}

pub(super) fn get_version(iam: &Iam, req: wire::GetPolicyVersionRequest) -> Result<Json, IamError> {
    let (policy, document) = find(iam, &req.policy_arn)?;
    if req.version_id != "v1" {
        return Err(IamError::no_such_entity(format!(
            "Policy {} version {} does not exist or is not attachable.",
            req.policy_arn, req.version_id
        )));
    }
    Ok(json!({ "PolicyVersion": {
        "Document": encode_document(&document), "VersionId": "v1", "IsDefaultVersion": true,
        "CreateDate": policy["CreateDate"].clone(),
    }}))
}

pub(super) fn list(iam: &Iam, req: wire::ListPoliciesRequest) -> Result<Json, IamError> {
    let scope = req.scope.map(|s| s.as_str().to_string()).unwrap_or_else(|| "All".into());
    let only_attached = req.only_attached.unwrap_or(false);
    let prefix = req.path_prefix.unwrap_or_else(|| "/".into());
    let mut out: Vec<Json> = Vec::new();
    if scope == "All" || scope == "AWS" {
        out.extend(MANAGED.iter().map(|m| managed_json(iam, m)));
    }
    if scope == "All" || scope == "Local" {
        let customer: Vec<PolicyRecord> = iam.read().policies.values().cloned().collect();
        out.extend(customer.iter().map(|p| customer_json(iam, p)));
    }
    out.retain(|p| {
        p["Path"].as_str().is_some_and(|path| path.starts_with(&prefix))
            && (!only_attached || p["AttachmentCount"].as_u64().unwrap_or(0) > 0)
    });
    let (items, next) = page(&out, req.marker.as_deref(), req.max_items)?;
    Ok(listed("Policies", items, next))
}

pub(super) async fn delete(iam: &Iam, req: wire::DeletePolicyRequest) -> Result<Json, IamError> {
    let arn = req.policy_arn;
    if managed::by_arn(&arn).is_some() {
        return Err(IamError::invalid_input(format!("Cannot delete the AWS managed policy {arn}.")));
    }
    let _w = iam.writes.lock().await;
    let Some(record) = iam.read().policies.values().find(|p| p.arn == arn).cloned() else {
        return Err(IamError::no_such_entity(format!("Policy {arn} was not found.")));
    };
    if attachments(iam, &arn) > 0 {
        return Err(IamError::delete_conflict("Cannot delete a policy attached to entities."));
    }
    let name = record.name.to_lowercase();
    iam.commit(Txn::new().delete(policy_key(&record.name)), move |s| {
        s.policies.remove(&name);
    })
    .await?;
    Ok(json!({}))
}

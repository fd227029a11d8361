//! Custom attributes on container instances: PutAttributes, ListAttributes, DeleteAttributes.
//!
//! They live in the instance record beside the agent's own attributes (and survive the agent re-registering), and
//! placement constraints see both.

use crate::cache::State;
use crate::instances::{all_attributes, parse_instance_ref};
use crate::optimistic::Attempt;
use crate::paging::{page_size, paginate};
use crate::records::keys;
use crate::status::InstanceStatus;
use crate::{Control, ControlError, EcsException, Result, encode};
use berth_model::ecs::{
    Attribute, DeleteAttributesRequest, DeleteAttributesResponse, ListAttributesRequest, ListAttributesResponse,
    PutAttributesRequest, PutAttributesResponse, TargetType,
};
use berth_store::Txn;
use std::collections::BTreeMap;

/// The most custom attributes one container instance may carry.
pub const MAX_CUSTOM_ATTRIBUTES: usize = 10;

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
}

fn valid_value(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.chars().all(|c| c.is_ascii_alphanumeric() || "_.@/:- ".contains(c))
}

/// Names only agents set: ECS's, and Berth's capability attributes (a custom attribute could otherwise claim a
/// capability the agent does not allow, or widen its host-path prefixes).
fn reserved(name: &str) -> bool {
    name.starts_with("ecs.")
        || name.starts_with("com.amazonaws.ecs.")
        || name.starts_with(berth_model::host_access::BERTH_CAPABILITY_PREFIX)
}

impl Control {
    /// Groups attributes by target instance, validating names, values and targets.
    fn attribute_targets(
        &self,
        state: &State,
        cluster: &str,
        attributes: &[Attribute],
        put: bool,
    ) -> Result<BTreeMap<String, Vec<Attribute>>> {
        if attributes.is_empty() || attributes.len() > MAX_CUSTOM_ATTRIBUTES {
            return Err(ControlError::invalid("attributes must hold between 1 and 10 attributes."));
        }
        let mut by_target: BTreeMap<String, Vec<Attribute>> = BTreeMap::new();
        for a in attributes {
            if !valid_name(&a.name) {
                return Err(ControlError::invalid(format!(
                    "Invalid attribute name {:?}: up to 128 letters, numbers, underscores, periods, slashes and hyphens.",
                    a.name
                )));
            }
            if put && reserved(&a.name) {
                return Err(ControlError::invalid(format!(
                    "The attribute name {:?} is reserved for Amazon ECS and Berth's agents.",
                    a.name
                )));
            }
            if let Some(v) = &a.value
                && put
                && !valid_value(v)
            {
                return Err(ControlError::invalid(format!("Invalid value {v:?} for attribute {}.", a.name)));
            }
            if a.target_type.is_some_and(|t| t != TargetType::ContainerInstance) {
                return Err(ControlError::invalid("Attributes can only target container instances."));
            }
            let target =
                a.target_id.as_deref().ok_or_else(|| ControlError::invalid("Each attribute needs a targetId."))?;
            let key = parse_instance_ref(cluster, target)?;
            if state.instances.get(&key).is_none_or(|v| v.record.status() == Some(InstanceStatus::Inactive)) {
                return Err(ControlError::ecs(
                    EcsException::TargetNotFoundException,
                    format!("Could not find the container instance {target} in cluster {cluster}."),
                ));
            }
            by_target.entry(key.1).or_default().push(a.clone());
        }
        Ok(by_target)
    }

    async fn change_attributes(
        &self,
        cluster: Option<&str>,
        attributes: &[Attribute],
        put: bool,
    ) -> Result<Vec<Attribute>> {
        let cluster = self.cluster_name(cluster)?;
        self.write("changing attributes", |state, _| {
            let targets = self.attribute_targets(state, &cluster, attributes, put)?;
            let mut txn = Txn::new();
            for (id, attrs) in targets {
                let Some(v) = state.instances.get(&(cluster.clone(), id.clone())) else { continue };
                let mut record = (*v.record).clone();
                for a in attrs {
                    if put {
                        record.custom_attributes.insert(a.name.clone(), a.value.clone());
                    } else {
                        record.custom_attributes.remove(&a.name);
                    }
                }
                if record.custom_attributes.len() > MAX_CUSTOM_ATTRIBUTES {
                    return Err(ControlError::ecs(
                        EcsException::AttributeLimitExceededException,
                        format!("A container instance can have at most {MAX_CUSTOM_ATTRIBUTES} custom attributes."),
                    ));
                }
                record.version += 1;
                let key = keys::instance(&cluster, &id);
                txn = txn.expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
            }
            Ok(Attempt::Commit(txn, attributes.to_vec()))
        })
        .await
    }

    /// `PutAttributes`.
    pub async fn put_attributes(&self, req: PutAttributesRequest) -> Result<PutAttributesResponse> {
        let attributes = self.change_attributes(req.cluster.as_deref(), &req.attributes, true).await?;
        Ok(PutAttributesResponse { attributes: Some(attributes) })
    }

    /// `DeleteAttributes`.
    pub async fn delete_attributes(&self, req: DeleteAttributesRequest) -> Result<DeleteAttributesResponse> {
        let attributes = self.change_attributes(req.cluster.as_deref(), &req.attributes, false).await?;
        Ok(DeleteAttributesResponse { attributes: Some(attributes) })
    }

    /// `ListAttributes`: every attribute (the agent's and custom ones) of the cluster's instances.
    pub fn list_attributes(&self, req: ListAttributesRequest) -> Result<ListAttributesResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        if req.attribute_value.is_some() && req.attribute_name.is_none() {
            return Err(ControlError::invalid("attributeValue can only be used together with attributeName."));
        }
        let size = page_size(req.max_results, 100, 100)?;
        let state = self.cache.read();
        let mut items = Vec::new();
        for ((c, id), v) in state.instances.range((cluster.clone(), String::new())..) {
            if *c != cluster {
                break;
            }
            if v.record.status() == Some(InstanceStatus::Inactive) {
                continue;
            }
            let arn = v.record.arn.clone();
            for a in all_attributes(&v.record) {
                if req.attribute_name.as_ref().is_some_and(|n| *n != a.name) {
                    continue;
                }
                if req.attribute_value.as_ref().is_some_and(|value| a.value.as_ref() != Some(value)) {
                    continue;
                }
                items.push((
                    format!("{id}/{}", a.name),
                    Attribute { target_type: Some(TargetType::ContainerInstance), target_id: Some(arn.clone()), ..a },
                ));
            }
        }
        drop(state);
        let page = paginate(items, req.next_token.as_deref(), size)?;
        Ok(ListAttributesResponse { attributes: Some(page.items), next_token: page.next_token })
    }
}

//! Resource tags: validation, and TagResource / UntagResource / ListTagsForResource on every taggable resource.

use crate::cache::State;
use crate::optimistic::Attempt;
use crate::records::{StoredTag, keys};
use crate::status::{ClusterStatus, ServiceStatus};
use crate::{Control, ControlError, Result, encode};
use berth_model::arn::Arn;
use berth_model::ecs::{
    ListTagsForResourceRequest, ListTagsForResourceResponse, PropagateTags, Tag, TagResourceRequest,
    TagResourceResponse, UntagResourceRequest, UntagResourceResponse,
};
use berth_store::Txn;

/// ECS's answer for a tagged resource that does not exist.
fn not_found() -> ControlError {
    ControlError::ecs(crate::EcsException::ResourceNotFoundException, "The specified resource could not be found.")
}

/// The most tags a resource may carry.
pub const MAX_TAGS: usize = 50;

fn valid_tag_text(text: &str) -> bool {
    text.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

/// ECS's cluster-name managed tag.
pub const CLUSTER_NAME_TAG: &str = "aws:ecs:clusterName";
/// ECS's service-name managed tag.
pub const SERVICE_NAME_TAG: &str = "aws:ecs:serviceName";

/// Whether a tag key is in the `aws:` namespace reserved for AWS (any letter case).
pub fn is_reserved_key(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

/// The message for a user tag key in the reserved `aws:` namespace.
fn reserved_message(key: &str) -> String {
    format!("Invalid tag key {key:?}: tag keys may not start with \"aws:\" (reserved for AWS use).")
}

/// Refuses more than [`MAX_TAGS`] user tags; `aws:` tags (ECS managed tags) do not count, as in AWS.
pub fn check_tag_count(tags: &[Tag]) -> Result<()> {
    let count = tags.iter().filter(|t| !is_reserved_key(t.key.as_deref().unwrap_or_default())).count();
    if count > MAX_TAGS {
        return Err(ControlError::invalid(format!(
            "A resource can have at most {MAX_TAGS} tags; this request would give it {count}."
        )));
    }
    Ok(())
}

/// Validates tags as ECS does: 1-128 character keys, values up to 256, no `aws:` prefix, at most 50.
pub fn validate_tags(tags: &[Tag]) -> Result<()> {
    check_tag_count(tags)?;
    for tag in tags {
        let key = tag.key.as_deref().unwrap_or_default();
        let value = tag.value.as_deref().unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 || !valid_tag_text(key) {
            return Err(ControlError::invalid(format!(
                "Invalid tag key {key:?}: keys are 1 to 128 letters, numbers, spaces and _.:/=+-@"
            )));
        }
        if value.chars().count() > 256 || !valid_tag_text(value) {
            return Err(ControlError::invalid(format!(
                "Invalid value for tag {key:?}: values are up to 256 letters, numbers, spaces and _.:/=+-@"
            )));
        }
        if is_reserved_key(key) {
            return Err(ControlError::invalid(reserved_message(key)));
        }
    }
    let mut keys: Vec<&str> = tags.iter().filter_map(|t| t.key.as_deref()).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Err(ControlError::invalid("Tag keys must be unique."));
    }
    Ok(())
}

/// Merges `new` into `existing`, replacing values of keys present in both.
pub fn merge_tags(existing: &[Tag], new: &[Tag]) -> Vec<Tag> {
    let mut out: Vec<Tag> = existing.iter().filter(|t| !new.iter().any(|n| n.key == t.key)).cloned().collect();
    out.extend(new.iter().cloned());
    out
}

/// How a new task's tags are made: the request's own tags, what to propagate, and ECS managed tags.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TaskTagging<'a> {
    /// Tags given on the request (RunTask / StartTask); none for service tasks.
    pub request: &'a [Tag],
    /// `propagateTags`: where to copy tags from at creation.
    pub propagate: Option<PropagateTags>,
    /// The service starting the task: its name and tags.
    pub service: Option<(&'a str, &'a [Tag])>,
    /// `enableECSManagedTags`.
    pub managed: bool,
}

impl TaskTagging<'_> {
    /// The tags without the managed ones: the propagated source's, then the request's (a request tag with the
    /// same key wins, as ECS documents).
    pub(crate) fn user_tags(&self, task_definition_tags: &[Tag]) -> Result<Vec<Tag>> {
        validate_tags(self.request)?;
        let propagated: &[Tag] = match self.propagate {
            Some(PropagateTags::TaskDefinition) => task_definition_tags,
            Some(PropagateTags::Service) => self.service.map(|(_, tags)| tags).unwrap_or_default(),
            Some(PropagateTags::None) | None => &[],
        };
        let merged = merge_tags(propagated, self.request);
        check_tag_count(&merged)?;
        Ok(merged)
    }

    /// ECS managed tags for a task in `cluster`: `aws:ecs:clusterName`, and `aws:ecs:serviceName` for a
    /// service's task; none unless `enableECSManagedTags`.
    pub(crate) fn managed_tags(&self, cluster: &str) -> Vec<Tag> {
        if !self.managed {
            return Vec::new();
        }
        let mut tags = vec![Tag { key: Some(CLUSTER_NAME_TAG.into()), value: Some(cluster.into()) }];
        if let Some((name, _)) = self.service {
            tags.push(Tag { key: Some(SERVICE_NAME_TAG.into()), value: Some(name.into()) });
        }
        tags
    }
}

/// A taggable resource, found from its ARN.
enum Target {
    Cluster(String),
    Service(String, String),
    TaskDefinition(String, i32),
    Task(String, String),
    Instance(String, String),
    CapacityProvider(String),
    /// A task set: cluster, service, task set id (`ecs-svc/...`).
    TaskSet(String, String, String),
    Daemon(String, String),
    DaemonTaskDefinition(String, i32),
}

impl Control {
    fn tag_target(state: &State, resource_arn: &str) -> Result<Target> {
        let arn = Arn::parse(resource_arn).map_err(|e| ControlError::invalid(e.to_string()))?;
        if arn.service != "ecs" {
            return Err(ControlError::invalid(format!("{resource_arn} is not an Amazon ECS resource ARN.")));
        }
        let path = arn.resource_path();
        let target = match (arn.resource_type(), path.as_slice()) {
            ("cluster", [name]) => Target::Cluster(name.to_string()),
            ("task-definition", [family_revision]) => {
                let (family, revision) = family_revision.rsplit_once(':').ok_or_else(not_found)?;
                Target::TaskDefinition(family.to_string(), revision.parse().map_err(|_| not_found())?)
            }
            ("task", [cluster, id]) => Target::Task(cluster.to_string(), id.to_string()),
            ("container-instance", [cluster, id]) => Target::Instance(cluster.to_string(), id.to_string()),
            ("service", [cluster, name]) => Target::Service(cluster.to_string(), name.to_string()),
            ("capacity-provider", [name]) => Target::CapacityProvider(name.to_string()),
            ("daemon", [cluster, name]) => Target::Daemon(cluster.to_string(), name.to_string()),
            ("daemon-task-definition", [family_revision]) => {
                let (family, revision) = family_revision.rsplit_once(':').ok_or_else(not_found)?;
                Target::DaemonTaskDefinition(family.to_string(), revision.parse().map_err(|_| not_found())?)
            }
            ("task-set", [cluster, service, prefix, id]) => {
                Target::TaskSet(cluster.to_string(), service.to_string(), format!("{prefix}/{id}"))
            }
            _ => {
                return Err(ControlError::invalid(format!(
                    "{resource_arn} is not a taggable Amazon ECS resource ARN."
                )));
            }
        };
        let cluster_active =
            |n: &str| state.clusters.get(n).is_some_and(|c| c.record.status() == Some(ClusterStatus::Active));
        if let Target::Service(c, _)
        | Target::Task(c, _)
        | Target::Instance(c, _)
        | Target::TaskSet(c, _, _)
        | Target::Daemon(c, _) = &target
            && !cluster_active(c)
        {
            return Err(ControlError::cluster_not_found());
        }
        let exists = match &target {
            Target::Service(c, n) => state
                .services
                .get(&(c.clone(), n.clone()))
                .is_some_and(|v| v.record.status() != Some(ServiceStatus::Inactive)),
            Target::Cluster(n) => {
                state.clusters.get(n).is_some_and(|c| c.record.status() == Some(ClusterStatus::Active))
            }
            Target::TaskDefinition(f, r) => state.task_definitions.contains_key(&(f.clone(), *r)),
            Target::Task(c, i) => state.tasks.contains_key(&(c.clone(), i.clone())),
            Target::Instance(c, i) => state.instances.contains_key(&(c.clone(), i.clone())),
            Target::CapacityProvider(n) => state
                .capacity_providers
                .get(n)
                .is_some_and(|v| v.record.status == crate::records::ProviderStatus::Active),
            Target::TaskSet(c, n, id) => state
                .services
                .get(&(c.clone(), n.clone()))
                .filter(|v| v.record.status() != Some(ServiceStatus::Inactive))
                .is_some_and(|v| v.record.task_sets.iter().any(|t| &t.id == id)),
            Target::Daemon(c, n) => state.daemons.contains_key(&(c.clone(), n.clone())),
            Target::DaemonTaskDefinition(f, r) => state.daemon_task_definitions.contains_key(&(f.clone(), *r)),
        };
        if !exists {
            return Err(not_found());
        }
        Ok(target)
    }

    /// Reads, changes and writes back a resource's tags with compare-and-swap.
    async fn update_tags(&self, resource_arn: &str, change: impl Fn(&[Tag]) -> Result<Vec<Tag>>) -> Result<()> {
        self.write("updating tags", |state, _| {
            // The target is found again on every attempt: it may have gone meanwhile.
            let target = Self::tag_target(state, resource_arn)?;
            let txn = {
                match &target {
                    Target::Cluster(n) => {
                        let Some(v) = state.clusters.get(n) else { return Err(not_found()) };
                        let mut rec = (*v.record).clone();
                        rec.tags = StoredTag::from_wire(&change(&StoredTag::to_wire(&rec.tags))?);
                        Txn::new().expect(keys::cluster(n), v.mod_revision).put(keys::cluster(n), encode(&rec)?)
                    }
                    Target::Service(c, n) => {
                        let Some(v) = state.services.get(&(c.clone(), n.clone())) else { return Err(not_found()) };
                        let mut rec = (*v.record).clone();
                        rec.tags = StoredTag::from_wire(&change(&StoredTag::to_wire(&rec.tags))?);
                        let key = keys::service(c, n);
                        Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&rec)?)
                    }
                    Target::TaskDefinition(f, r) => {
                        let Some(v) = state.task_definitions.get(&(f.clone(), *r)) else { return Err(not_found()) };
                        let mut rec = (*v.record).clone();
                        rec.tags = change(&rec.tags)?;
                        let key = keys::task_definition(f, *r);
                        Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&rec)?)
                    }
                    Target::Task(c, i) => {
                        let Some(v) = state.tasks.get(&(c.clone(), i.clone())) else { return Err(not_found()) };
                        let mut rec = (*v.record).clone();
                        rec.tags = StoredTag::from_wire(&change(&StoredTag::to_wire(&rec.tags))?);
                        let key = keys::task(c, i);
                        Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&rec)?)
                    }
                    Target::Instance(c, i) => {
                        let Some(v) = state.instances.get(&(c.clone(), i.clone())) else { return Err(not_found()) };
                        let mut rec = (*v.record).clone();
                        rec.tags = StoredTag::from_wire(&change(&StoredTag::to_wire(&rec.tags))?);
                        let key = keys::instance(c, i);
                        Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&rec)?)
                    }
                    Target::CapacityProvider(n) => {
                        let Some(v) = state.capacity_providers.get(n) else { return Err(not_found()) };
                        let mut rec = (*v.record).clone();
                        rec.tags = StoredTag::from_wire(&change(&StoredTag::to_wire(&rec.tags))?);
                        let key = keys::capacity_provider(n);
                        Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&rec)?)
                    }
                    Target::TaskSet(c, n, id) => {
                        let Some(v) = state.services.get(&(c.clone(), n.clone())) else { return Err(not_found()) };
                        let mut rec = (*v.record).clone();
                        let Some(ts) = rec.task_sets.iter_mut().find(|t| &t.id == id) else { return Err(not_found()) };
                        ts.tags = StoredTag::from_wire(&change(&StoredTag::to_wire(&ts.tags))?);
                        let key = keys::service(c, n);
                        Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&rec)?)
                    }
                    Target::Daemon(c, n) => {
                        let Some(v) = state.daemons.get(&(c.clone(), n.clone())) else { return Err(not_found()) };
                        let mut rec = (*v.record).clone();
                        rec.tags = StoredTag::from_wire(&change(&StoredTag::to_wire(&rec.tags))?);
                        let key = crate::daemons::records::keys::daemon(c, n);
                        Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&rec)?)
                    }
                    Target::DaemonTaskDefinition(f, r) => {
                        let Some(v) = state.daemon_task_definitions.get(&(f.clone(), *r)) else {
                            return Err(not_found());
                        };
                        let mut rec = (*v.record).clone();
                        rec.tags = change(&rec.tags)?;
                        let key = crate::daemons::records::keys::task_definition(f, *r);
                        Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&rec)?)
                    }
                }
            };
            Ok(Attempt::Commit(txn, ()))
        })
        .await
    }

    /// `TagResource`.
    pub async fn tag_resource(&self, req: TagResourceRequest) -> Result<TagResourceResponse> {
        validate_tags(&req.tags)?;
        self.update_tags(&req.resource_arn, |existing| {
            let merged = merge_tags(existing, &req.tags);
            check_tag_count(&merged)?;
            Ok(merged)
        })
        .await?;
        Ok(TagResourceResponse::default())
    }

    /// `UntagResource`.
    pub async fn untag_resource(&self, req: UntagResourceRequest) -> Result<UntagResourceResponse> {
        if let Some(key) = req.tag_keys.iter().find(|k| is_reserved_key(k)) {
            return Err(ControlError::invalid(reserved_message(key)));
        }
        self.update_tags(&req.resource_arn, |existing| {
            Ok(existing.iter().filter(|t| !req.tag_keys.iter().any(|k| Some(k) == t.key.as_ref())).cloned().collect())
        })
        .await?;
        Ok(UntagResourceResponse::default())
    }

    /// `ListTagsForResource`.
    pub fn list_tags_for_resource(&self, req: ListTagsForResourceRequest) -> Result<ListTagsForResourceResponse> {
        let state = self.cache.read();
        let target = Self::tag_target(&state, &req.resource_arn)?;
        let tags = match target {
            Target::Cluster(n) => state.clusters.get(&n).map(|v| StoredTag::to_wire(&v.record.tags)),
            Target::Service(c, n) => state.services.get(&(c, n)).map(|v| StoredTag::to_wire(&v.record.tags)),
            Target::TaskDefinition(f, r) => state.task_definitions.get(&(f, r)).map(|v| v.record.tags.clone()),
            Target::Task(c, i) => state.tasks.get(&(c, i)).map(|v| StoredTag::to_wire(&v.record.tags)),
            Target::Instance(c, i) => state.instances.get(&(c, i)).map(|v| StoredTag::to_wire(&v.record.tags)),
            Target::CapacityProvider(n) => state.capacity_providers.get(&n).map(|v| StoredTag::to_wire(&v.record.tags)),
            Target::TaskSet(c, n, id) => state
                .services
                .get(&(c, n))
                .and_then(|v| v.record.task_sets.iter().find(|t| t.id == id).map(|t| StoredTag::to_wire(&t.tags))),
            Target::Daemon(c, n) => state.daemons.get(&(c, n)).map(|v| StoredTag::to_wire(&v.record.tags)),
            Target::DaemonTaskDefinition(f, r) => {
                state.daemon_task_definitions.get(&(f, r)).map(|v| v.record.tags.clone())
            }
        };
        Ok(ListTagsForResourceResponse { tags: Some(tags.unwrap_or_default()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag { key: Some(k.into()), value: Some(v.into()) }
    }

    #[test]
    fn validates_tags() {
        assert!(validate_tags(&[tag("team", "core")]).is_ok());
        assert!(validate_tags(&[tag("", "x")]).is_err());
        assert!(validate_tags(&[tag("aws:owner", "x")]).is_err());
        assert!(validate_tags(&[tag(&"k".repeat(129), "x")]).is_err());
        assert!(validate_tags(&[tag("a", "x"), tag("a", "y")]).is_err());
        let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert!(validate_tags(&many).is_err());
    }

    #[test]
    fn merge_replaces_values() {
        let merged = merge_tags(&[tag("a", "1"), tag("b", "2")], &[tag("b", "3"), tag("c", "4")]);
        assert_eq!(merged, vec![tag("a", "1"), tag("b", "3"), tag("c", "4")]);
    }
}

//! DescribeTasks and ListTasks, answered from the cache.

use super::render_task;
use super::stop::parse_task_ref;
use crate::paging::{page_size, paginate};
use crate::status::TaskLaunchType;
use crate::{Control, ControlError, Result};
use berth_model::ecs::task_definition::validate_family;
use berth_model::ecs::{
    DescribeTasksRequest, DescribeTasksResponse, DesiredStatus, ListTasksRequest, ListTasksResponse, TaskField,
};

impl Control {
    /// `DescribeTasks`: up to 100 tasks by id or ARN; unknown ones come back as `MISSING` failures.
    pub fn describe_tasks(&self, req: DescribeTasksRequest) -> Result<DescribeTasksResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        if req.tasks.is_empty() || req.tasks.len() > 100 {
            return Err(ControlError::invalid("tasks must name between 1 and 100 tasks."));
        }
        let with_tags = req.include.iter().flatten().any(|f| *f == TaskField::Tags);
        let state = self.cache.read();
        let mut tasks = Vec::with_capacity(req.tasks.len());
        let mut failures = Vec::new();
        for text in &req.tasks {
            let found = parse_task_ref(&cluster, text).ok().and_then(|key| state.tasks.get(&key));
            match found {
                Some(v) => tasks.push(render_task(&v.record, with_tags)),
                None => failures.push(self.missing_in(&state, "task", &cluster, text)),
            }
        }
        Ok(DescribeTasksResponse { tasks: Some(tasks), failures: Some(failures) })
    }

    /// `ListTasks`: filtered by container instance, family, startedBy, service, desired status and launch type.
    pub fn list_tasks(&self, req: ListTasksRequest) -> Result<ListTasksResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let size = page_size(req.max_results, 100, 100)?;
        if let Some(family) = &req.family {
            validate_family(family).map_err(|_| ControlError::invalid("family must match ^[a-zA-Z0-9\\-_]+$"))?;
        }
        let instance_id = match &req.container_instance {
            Some(text) => Some(crate::instances::parse_instance_ref(&cluster, text)?.1),
            None => None,
        };
        let desired = req.desired_status.unwrap_or(DesiredStatus::Running);
        let family_prefix = req.family.as_ref().map(|f| format!("task-definition/{f}:"));
        let service_group = req.service_name.as_ref().map(|s| format!("service:{s}"));
        // A page starts after the token's task and stops once full: its cost is the page, not the cluster.
        let after = crate::paging::decode_token(req.next_token.as_deref())?;
        let state = self.cache.read();
        let items = state
            .tasks
            .range((cluster.clone(), after.clone().unwrap_or_default())..)
            .take_while(|((c, _), _)| *c == cluster)
            .filter(|((_, id), _)| after.as_deref().is_none_or(|a| id.as_str() > a))
            .filter(|(_, v)| {
                let t = &v.record;
                // The request's filter is the model's enum; the record's status is Berth's.
                let desired_matches = v.record.desired_status().is_some_and(|d| d.as_str() == desired.as_str());
                desired_matches
                    && instance_id.as_ref().is_none_or(|id| *id == v.record.instance_id)
                    && family_prefix.as_ref().is_none_or(|p| t.task_definition_arn.contains(p.as_str()))
                    && req.started_by.as_ref().is_none_or(|s| t.started_by.as_ref() == Some(s))
                    && service_group.as_ref().is_none_or(|g| t.group.as_ref() == Some(g))
                    && req.launch_type.is_none_or(|l| t.launch_type == TaskLaunchType::from_wire(l))
            })
            .map(|((_, id), v)| (id.clone(), v.record.arn.clone()));
        let page = paginate(items, req.next_token.as_deref(), size)?;
        drop(state);
        Ok(ListTasksResponse { task_arns: Some(page.items), next_token: page.next_token })
    }
}

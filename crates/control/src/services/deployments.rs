//! DescribeServiceDeployments, ListServiceDeployments and DescribeServiceRevisions.

use super::service_name;
use crate::paging::{page_size, paginate};
use crate::{Control, ControlError, EcsException, Result};
use berth_model::arn::Arn;
use berth_model::ecs::{
    DescribeServiceDeploymentsRequest, DescribeServiceDeploymentsResponse, DescribeServiceRevisionsRequest,
    DescribeServiceRevisionsResponse, Failure, ListServiceDeploymentsRequest, ListServiceDeploymentsResponse,
    ServiceDeploymentBrief,
};

/// The (cluster, service) an ARN of the form `<type>/<cluster>/<service>/<id>` belongs to.
pub(super) fn owner(arn: &str, kind: &str) -> Option<(String, String)> {
    let parsed = Arn::parse(arn).ok()?;
    if parsed.resource_type() != kind {
        return None;
    }
    match parsed.resource_path().as_slice() {
        [cluster, service, _id] => Some((cluster.to_string(), service.to_string())),
        _ => None,
    }
}

fn missing(arn: &str) -> Failure {
    Failure { arn: Some(arn.to_string()), reason: Some("MISSING".into()), detail: None }
}

impl Control {
    /// `DescribeServiceDeployments`.
    pub fn describe_service_deployments(
        &self,
        req: DescribeServiceDeploymentsRequest,
    ) -> Result<DescribeServiceDeploymentsResponse> {
        if req.service_deployment_arns.is_empty() || req.service_deployment_arns.len() > 20 {
            return Err(ControlError::invalid("serviceDeploymentArns must name between 1 and 20 service deployments."));
        }
        let state = self.cache.read();
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for arn in &req.service_deployment_arns {
            let service = owner(arn, "service-deployment").and_then(|key| state.services.get(&key));
            let sd = service.and_then(|v| v.record.service_deployments.iter().find(|d| d.arn == *arn).map(|d| (v, d)));
            match sd {
                Some((v, sd)) => {
                    let mut sd = sd.to_wire(&v.record);
                    // Live task counts for the target revision.
                    if let (Some(target), Some(d)) = (
                        sd.target_service_revision.as_mut(),
                        v.record.deployments.iter().find(|d| d.service_deployment_arn == *arn),
                    ) {
                        let counts = self.service_task_counts(&state, &v.record, Some(&d.id));
                        target.running_task_count = counts.running;
                        target.pending_task_count = counts.pending;
                    }
                    found.push(sd)
                }
                None => failures.push(missing(arn)),
            }
        }
        Ok(DescribeServiceDeploymentsResponse { service_deployments: Some(found), failures: Some(failures) })
    }

    /// `ListServiceDeployments`: newest first, filtered by status and creation time.
    pub fn list_service_deployments(
        &self,
        req: ListServiceDeploymentsRequest,
    ) -> Result<ListServiceDeploymentsResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let name = service_name(&req.service)?;
        let size = page_size(req.max_results, 20, 100)?;
        let state = self.cache.read();
        let v = state
            .services
            .get(&(cluster, name))
            .ok_or_else(|| ControlError::ecs(EcsException::ServiceNotFoundException, "Service not found."))?;
        let items: Vec<(String, ServiceDeploymentBrief)> = v
            .record
            .service_deployments
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, d)| req.status.as_ref().is_none_or(|s| d.status.to_wire().is_some_and(|x| s.contains(&x))))
            .filter(|(_, d)| {
                let created = d.created_at;
                req.created_at
                    .as_ref()
                    .is_none_or(|c| c.before.is_none_or(|b| created < b) && c.after.is_none_or(|a| created > a))
            })
            .map(|(i, d)| {
                (
                    format!("{:010}", usize::MAX / 2 - i),
                    ServiceDeploymentBrief {
                        service_deployment_arn: Some(d.arn.clone()),
                        service_arn: Some(v.record.arn.clone()),
                        cluster_arn: Some(v.record.cluster_arn.clone()),
                        started_at: d.started_at,
                        created_at: Some(d.created_at),
                        finished_at: d.finished_at,
                        target_service_revision_arn: Some(d.target_revision.clone()),
                        status: d.status.to_wire(),
                        status_reason: d.status_reason.clone(),
                    },
                )
            })
            .collect();
        drop(state);
        let page = paginate(items, req.next_token.as_deref(), size)?;
        Ok(ListServiceDeploymentsResponse { service_deployments: Some(page.items), next_token: page.next_token })
    }

    /// `DescribeServiceRevisions`.
    pub fn describe_service_revisions(
        &self,
        req: DescribeServiceRevisionsRequest,
    ) -> Result<DescribeServiceRevisionsResponse> {
        if req.service_revision_arns.is_empty() || req.service_revision_arns.len() > 20 {
            return Err(ControlError::invalid("serviceRevisionArns must name between 1 and 20 service revisions."));
        }
        let state = self.cache.read();
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for arn in &req.service_revision_arns {
            let revision = owner(arn, "service-revision")
                .and_then(|key| state.services.get(&key))
                .and_then(|v| v.record.revisions.iter().find(|r| r.arn == *arn).map(|r| r.to_wire(&v.record)));
            match revision {
                Some(r) => found.push(r),
                None => failures.push(missing(arn)),
            }
        }
        Ok(DescribeServiceRevisionsResponse { service_revisions: Some(found), failures: Some(failures) })
    }
}

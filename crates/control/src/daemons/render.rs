//! Daemons, their revisions and deployments as the wire shows them, with live counts from the cache; and the
//! three read operations on revisions and deployments.

use super::records::{DaemonDeploymentRecord, DaemonRecord, DaemonRevisionRecord};
use super::{instances_of, is_running, parse_child_arn, parse_daemon_arn, tasks_on};
use crate::cache::State;
use crate::paging::{page_size, paginate_ordered};
use crate::{Control, ControlError, Result};
use berth_model::ecs::{
    DaemonCapacityProvider, DaemonCircuitBreaker, DaemonDeployment, DaemonDeploymentAlarms,
    DaemonDeploymentCapacityProvider, DaemonDeploymentRevisionDetail, DaemonDeploymentRollbackMonitorsStatus,
    DaemonDeploymentSummary, DaemonDetail, DaemonRevision, DaemonRevisionDetail, DaemonRollback, DaemonSummary,
    DescribeDaemonDeploymentsRequest, DescribeDaemonDeploymentsResponse, DescribeDaemonRevisionsRequest,
    DescribeDaemonRevisionsResponse, Failure, ListDaemonDeploymentsRequest, ListDaemonDeploymentsResponse,
};
use std::collections::BTreeMap;

/// How many ARNs one Describe call takes.
const MAX_DESCRIBE: usize = 20;

/// Per capacity provider: instances running each revision, instances whose daemon task is stopping (by revision),
/// and instances with no RUNNING daemon task.
#[derive(Debug, Default)]
struct Counts {
    running: BTreeMap<(String, String), i32>,
    draining: BTreeMap<(String, String), i32>,
    without: BTreeMap<String, i32>,
}

fn counts(state: &State, daemon: &DaemonRecord) -> Counts {
    let mut out = Counts::default();
    for (provider, instance) in instances_of(state, daemon) {
        let tasks = tasks_on(state, daemon, &instance.id);
        let mut running = false;
        for task in tasks.iter().filter(|t| t.last_status() != Some(crate::status::TaskStatus::Stopped)) {
            let revision = task.daemon_revision.clone().unwrap_or_default();
            if is_running(task) {
                running = true;
                *out.running.entry((provider.clone(), revision)).or_default() += 1;
            } else if task.desired_status == crate::status::DesiredStatus::Stopped {
                *out.draining.entry((provider.clone(), revision)).or_default() += 1;
            }
        }
        if !running {
            *out.without.entry(provider).or_default() += 1;
        }
    }
    out
}

impl Control {
    fn provider_arn(&self, name: &str) -> String {
        self.arn(&format!("capacity-provider/{name}"))
    }

    /// DescribeDaemon's `daemon`.
    pub(crate) fn render_daemon(&self, state: &State, daemon: &DaemonRecord) -> DaemonDetail {
        let counts = counts(state, daemon);
        let mut shown: Vec<&DaemonRevisionRecord> = daemon
            .revisions
            .iter()
            .filter(|r| r.id == daemon.current_revision || counts.running.keys().any(|(_, rev)| *rev == r.id))
            .collect();
        shown.sort_by_key(|r| r.id != daemon.current_revision);
        let current_revisions = shown
            .iter()
            .map(|revision| {
                let current = revision.id == daemon.current_revision;
                let providers: Vec<DaemonCapacityProvider> = revision
                    .capacity_providers
                    .iter()
                    .map(|p| DaemonCapacityProvider {
                        arn: Some(self.provider_arn(p)),
                        running_count: counts.running.get(&(p.clone(), revision.id.clone())).copied().unwrap_or(0),
                        without_daemon_count: if current { counts.without.get(p).copied().unwrap_or(0) } else { 0 },
                    })
                    .collect();
                DaemonRevisionDetail {
                    arn: Some(self.daemon_revision_arn(daemon, &revision.id)),
                    total_running_count: providers.iter().map(|p| p.running_count).sum(),
                    total_without_daemon_count: providers.iter().map(|p| p.without_daemon_count).sum(),
                    capacity_providers: Some(providers),
                }
            })
            .collect();
        DaemonDetail {
            daemon_arn: Some(daemon.arn.clone()),
            cluster_arn: Some(self.arn(&format!("cluster/{}", daemon.cluster))),
            status: Some(daemon.status),
            current_revisions: Some(current_revisions),
            deployment_arn: daemon.last_deployment().map(|d| self.daemon_deployment_arn(daemon, &d.id)),
            created_at: Some(daemon.created_at),
            updated_at: Some(daemon.updated_at),
        }
    }

    /// ListDaemons' summary of a daemon.
    pub(crate) fn render_daemon_summary(&self, daemon: &DaemonRecord) -> DaemonSummary {
        DaemonSummary {
            daemon_arn: Some(daemon.arn.clone()),
            status: Some(daemon.status),
            created_at: Some(daemon.created_at),
            updated_at: Some(daemon.updated_at),
        }
    }

    fn render_revision_counts(
        &self,
        daemon: &DaemonRecord,
        revision: &str,
        counts: &Counts,
    ) -> DaemonDeploymentRevisionDetail {
        let providers: Vec<String> =
            daemon.revision(revision).map(|r| r.capacity_providers.clone()).unwrap_or_default();
        let current = revision == daemon.current_revision;
        let detail: Vec<DaemonDeploymentCapacityProvider> = providers
            .iter()
            .map(|p| {
                let key = (p.clone(), revision.to_string());
                DaemonDeploymentCapacityProvider {
                    arn: Some(self.provider_arn(p)),
                    running_instance_count: Some(counts.running.get(&key).copied().unwrap_or(0)),
                    without_daemon_instance_count: current.then(|| counts.without.get(p).copied().unwrap_or(0)),
                    draining_instance_count: Some(counts.draining.get(&key).copied().unwrap_or(0)),
                }
            })
            .collect();
        DaemonDeploymentRevisionDetail {
            arn: Some(self.daemon_revision_arn(daemon, revision)),
            total_running_instance_count: Some(detail.iter().filter_map(|p| p.running_instance_count).sum()),
            total_without_daemon_instance_count: current
                .then(|| detail.iter().filter_map(|p| p.without_daemon_instance_count).sum()),
            total_draining_instance_count: Some(detail.iter().filter_map(|p| p.draining_instance_count).sum()),
            capacity_providers: Some(detail),
        }
    }

    fn render_deployment(&self, state: &State, daemon: &DaemonRecord, d: &DaemonDeploymentRecord) -> DaemonDeployment {
        let counts = counts(state, daemon);
        let breaker = &d.circuit_breaker;
        let breaker_status = if breaker.triggered {
            DaemonDeploymentRollbackMonitorsStatus::Triggered
        } else if d.is_active() {
            DaemonDeploymentRollbackMonitorsStatus::Monitoring
        } else {
            DaemonDeploymentRollbackMonitorsStatus::MonitoringComplete
        };
        DaemonDeployment {
            daemon_deployment_arn: Some(self.daemon_deployment_arn(daemon, &d.id)),
            cluster_arn: Some(self.arn(&format!("cluster/{}", daemon.cluster))),
            status: Some(d.status),
            status_reason: d.status_reason.clone(),
            target_daemon_revision: d
                .target_revision
                .as_deref()
                .map(|r| self.render_revision_counts(daemon, r, &counts)),
            source_daemon_revisions: Some(
                d.source_revisions.iter().map(|r| self.render_revision_counts(daemon, r, &counts)).collect(),
            ),
            circuit_breaker: Some(DaemonCircuitBreaker {
                failure_count: breaker.failure_count,
                status: Some(breaker_status),
                threshold: breaker.threshold,
            }),
            alarms: Some(DaemonDeploymentAlarms {
                status: Some(DaemonDeploymentRollbackMonitorsStatus::Disabled),
                alarm_names: None,
                triggered_alarm_names: None,
            }),
            rollback: d.rollback.as_ref().map(|r| DaemonRollback {
                reason: Some(r.reason.clone()),
                started_at: Some(r.started_at),
                rollback_target_daemon_revision_arn: Some(self.daemon_revision_arn(daemon, &r.target_revision)),
                rollback_capacity_providers: daemon
                    .revision(&r.target_revision)
                    .map(|rev| rev.capacity_providers.iter().map(|p| self.provider_arn(p)).collect()),
            }),
            deployment_configuration: Some(d.configuration.clone()),
            created_at: Some(d.created_at),
            started_at: d.started_at,
            stopped_at: d.stopped_at,
            finished_at: d.finished_at,
        }
    }

    fn render_deployment_summary(&self, daemon: &DaemonRecord, d: &DaemonDeploymentRecord) -> DaemonDeploymentSummary {
        DaemonDeploymentSummary {
            daemon_deployment_arn: Some(self.daemon_deployment_arn(daemon, &d.id)),
            daemon_arn: Some(daemon.arn.clone()),
            cluster_arn: Some(self.arn(&format!("cluster/{}", daemon.cluster))),
            status: Some(d.status),
            status_reason: d.status_reason.clone(),
            target_daemon_revision_arn: d.target_revision.as_deref().map(|r| self.daemon_revision_arn(daemon, r)),
            created_at: Some(d.created_at),
            started_at: d.started_at,
            stopped_at: d.stopped_at,
            finished_at: d.finished_at,
        }
    }

    fn render_revision(&self, daemon: &DaemonRecord, r: &DaemonRevisionRecord) -> DaemonRevision {
        DaemonRevision {
            daemon_revision_arn: Some(self.daemon_revision_arn(daemon, &r.id)),
            cluster_arn: Some(self.arn(&format!("cluster/{}", daemon.cluster))),
            daemon_arn: Some(daemon.arn.clone()),
            daemon_task_definition_arn: Some(r.task_definition_arn.clone()),
            created_at: Some(r.created_at),
            container_images: Some(r.container_images.clone()),
            propagate_tags: r.propagate_tags,
            enable_ecs_managed_tags: Some(r.enable_ecs_managed_tags),
            enable_execute_command: Some(r.enable_execute_command),
            critical: None,
        }
    }

    /// `DescribeDaemonDeployments`: up to 20 deployment ARNs; unknown ones are `MISSING` failures.
    pub fn describe_daemon_deployments(
        &self,
        req: DescribeDaemonDeploymentsRequest,
    ) -> Result<DescribeDaemonDeploymentsResponse> {
        check_count(req.daemon_deployment_arns.len(), "daemonDeploymentArns")?;
        let state = self.cache.read();
        let (mut found, mut failures) = (Vec::new(), Vec::new());
        for arn in &req.daemon_deployment_arns {
            let hit = parse_child_arn(arn, "daemon-deployment").and_then(|(cluster, name, id)| {
                let daemon = state.daemons.get(&(cluster, name))?;
                let d = daemon.record.deployments.iter().find(|d| d.id == id)?;
                Some(self.render_deployment(&state, &daemon.record, d))
            });
            match hit {
                Some(d) => found.push(d),
                None => failures.push(missing(arn)),
            }
        }
        Ok(DescribeDaemonDeploymentsResponse { failures: Some(failures), daemon_deployments: Some(found) })
    }

    /// `DescribeDaemonRevisions`: up to 20 revision ARNs; unknown ones are `MISSING` failures.
    pub fn describe_daemon_revisions(
        &self,
        req: DescribeDaemonRevisionsRequest,
    ) -> Result<DescribeDaemonRevisionsResponse> {
        check_count(req.daemon_revision_arns.len(), "daemonRevisionArns")?;
        let state = self.cache.read();
        let (mut found, mut failures) = (Vec::new(), Vec::new());
        for arn in &req.daemon_revision_arns {
            let hit = parse_child_arn(arn, "daemon-revision").and_then(|(cluster, name, id)| {
                let daemon = state.daemons.get(&(cluster, name))?;
                let r = daemon.record.revision(&id)?;
                Some(self.render_revision(&daemon.record, r))
            });
            match hit {
                Some(r) => found.push(r),
                None => failures.push(missing(arn)),
            }
        }
        Ok(DescribeDaemonRevisionsResponse { daemon_revisions: Some(found), failures: Some(failures) })
    }

    /// `ListDaemonDeployments`: newest first, filtered by status and creation time.
    pub fn list_daemon_deployments(&self, req: ListDaemonDeploymentsRequest) -> Result<ListDaemonDeploymentsResponse> {
        let size = page_size(req.max_results, 20, 100)?;
        let (cluster, name) = parse_daemon_arn(&req.daemon_arn)?;
        let state = self.cache.read();
        if !state.clusters.contains_key(&cluster) {
            return Err(ControlError::cluster_not_found());
        }
        let daemon = state
            .daemons
            .get(&(cluster, name))
            .ok_or_else(|| ControlError::client("The specified daemon does not exist."))?;
        let statuses = req.status.clone().unwrap_or_default();
        let window = req.created_at.clone().unwrap_or_default();
        let items: Vec<(String, DaemonDeploymentSummary)> = daemon
            .record
            .deployments
            .iter()
            .rev()
            .filter(|d| statuses.is_empty() || statuses.contains(&d.status))
            .filter(|d| window.before.is_none_or(|t| d.created_at < t) && window.after.is_none_or(|t| d.created_at > t))
            .map(|d| {
                let key = format!("{:016}/{}", (d.created_at * 1000.0) as i64, d.id);
                (key, self.render_deployment_summary(&daemon.record, d))
            })
            .collect();
        let page = paginate_ordered(items, req.next_token.as_deref(), size, true)?;
        Ok(ListDaemonDeploymentsResponse { next_token: page.next_token, daemon_deployments: Some(page.items) })
    }
}

fn check_count(count: usize, member: &str) -> Result<()> {
    if count == 0 || count > MAX_DESCRIBE {
        return Err(ControlError::invalid(format!("{member} must name between 1 and {MAX_DESCRIBE} ARNs.")));
    }
    Ok(())
}

fn missing(arn: &str) -> Failure {
    Failure { arn: Some(arn.to_string()), reason: Some("MISSING".into()), detail: None }
}

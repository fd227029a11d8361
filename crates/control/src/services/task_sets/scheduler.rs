//! The service scheduler's pass over a service with the EXTERNAL deployment controller: carries out a
//! [`super::plan::plan`] (stops in one transaction, each task set's new tasks placed with its own task definition,
//! launch, network configuration and targets, the service record with compare-and-swap). Registrations in the
//! task sets' target groups are kept by the same `targets::sync` as for ECS services: each task carries the load
//! balancers of its task set. Any lost race is repaired by the next pass.

use super::plan::plan;
use crate::records::{StoredTag, TargetsRecord, TaskSetRecord, keys};
use crate::services::controller::{launch_error_event, record_shortfall, record_started, record_stopped, stop_tasks};
use crate::services::machine::should_repeat;
use crate::services::service_group;
use crate::status::{ServiceStatus, TagPropagation};
use crate::{Control, ControlError, Result, encode};
use berth_store::Txn;

/// The targets a new task of a task set starts with (`None` without load balancers and registries, or when the
/// server has no ELBv2 and Cloud Map wired).
fn targets_record(control: &Control, ts: &TaskSetRecord) -> Option<TargetsRecord> {
    if (ts.load_balancers.is_empty() && ts.service_registries.is_empty()) || control.service_targets().is_none() {
        return None;
    }
    Some(TargetsRecord {
        load_balancers: ts.load_balancers.clone(),
        service_registries: ts.service_registries.clone(),
        ..Default::default()
    })
}

/// One pass over the EXTERNAL service `cluster`/`name`.
pub(crate) async fn reconcile(control: &Control, cluster: &str, name: &str) -> Result<()> {
    let env = control.service_env(control.now());
    let plan = {
        let state = control.cache.read();
        let Some(v) = state.services.get(&(cluster.to_string(), name.to_string())).cloned() else { return Ok(()) };
        plan(&env, &state, &v)
    };
    let mut record = plan.record;
    let mut changed = plan.changed;
    if !plan.stops.is_empty() {
        let stopped = stop_tasks(control, &plan.stops).await?;
        changed |= record_stopped(&env, &mut record, &stopped);
    }
    let constraints = record.placement_constraints.clone().unwrap_or_default();
    let strategy = record.placement_strategy.clone().unwrap_or_default();
    let group = service_group(name);
    let mut started = Vec::new();
    for (id, count) in &plan.starts {
        let Some(ts) = record.task_sets.iter().find(|t| &t.id == id).cloned() else { continue };
        let placed = control
            .place_service_tasks(
                cluster,
                &ts.task_definition,
                &group,
                &ts.id,
                crate::tags::TaskTagging {
                    request: &[],
                    propagate: record.propagate_tags.and_then(TagPropagation::to_wire),
                    service: Some((name, &StoredTag::to_wire(&record.tags))),
                    managed: record.enable_ecs_managed_tags,
                },
                &constraints,
                &strategy,
                *count,
                None,
                record.enable_execute_command,
                targets_record(control, &ts),
                ts.network_configuration.as_ref(),
                &ts.launch(),
            )
            .await;
        let (tasks, failures, closest) = match placed {
            Ok(placed) => placed,
            Err(ControlError::Ecs { message, .. }) => {
                // This task set cannot launch at all (no instance, its task definition gone): say why.
                let message = format!("(taskSet {}) {}", ts.id, launch_error_event(&message));
                if should_repeat(&env, &record, &message) {
                    env.push_event(&mut record, message);
                    changed = true;
                }
                record.steady = false;
                continue;
            }
            Err(error) => return Err(error),
        };
        started.extend(tasks.iter().filter_map(|t| t.task_arn.clone()));
        if tasks.len() < *count {
            changed |= record_shortfall(&env, &mut record, &failures, closest);
        }
    }
    changed |= record_started(&env, &mut record, &started);
    if plan.inactive {
        record.set_status(ServiceStatus::Inactive);
        changed = true;
    }
    if changed {
        let key = keys::service(cluster, name);
        let txn = Txn::new().expect(key.clone(), plan.revision).put(key, encode(&record)?);
        // A conflict means a user changed the service meanwhile; the next pass plans again.
        control.commit(txn, "recording an EXTERNAL service's state").await?;
    }
    Ok(())
}

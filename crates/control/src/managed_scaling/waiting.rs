//! Tasks waiting for capacity under a managed scaling provider (RunTask or a service placed them on no instance):
//! each is placed, one at a time, once an instance of its provider's node group has room. The task record and the
//! chosen instance's record are written in one compare-and-swap transaction, so a task is never placed twice.

use super::reservation::is_waiting;
use crate::cache::State;
use crate::optimistic::Attempt;
use crate::records::{ProviderStatus, TaskRecord, keys};
use crate::status::DesiredStatus;
use crate::tasks::DefaultStrategy;
use crate::{Control, ControlError, Result, encode};
use berth_store::Txn;

/// The keys of the tasks waiting for capacity (indexed under the empty instance id).
pub fn waiting_keys(state: &State) -> Vec<(String, String)> {
    state
        .tasks_by_instance
        .get("")
        .into_iter()
        .flatten()
        .filter(|k| state.tasks.get(*k).is_some_and(|v| is_waiting(&v.record) && v.record.waiting.is_some()))
        .cloned()
        .collect()
}

impl Control {
    /// Places every task waiting for capacity that now fits; returns how many were placed.
    pub async fn place_waiting_tasks(&self) -> Result<usize> {
        let keys = waiting_keys(&self.cache.read());
        let mut placed = 0;
        for key in keys {
            if self.place_waiting_task(&key).await? {
                placed += 1;
            }
        }
        Ok(placed)
    }

    /// Places the waiting task `key` if an instance of its provider's node group has room (false: it still waits).
    async fn place_waiting_task(&self, key: &(String, String)) -> Result<bool> {
        self.write_with(
            "placing a task that waited for capacity",
            crate::tasks::run::PLACEMENT_ATTEMPTS,
            |state, _now| match self.decide_waiting(state, key)? {
                Some((txn, ticket)) => Ok(Attempt::Commit(txn, (true, ticket))),
                None => Ok(Attempt::Done((false, None))),
            },
            |(_, ticket), revision| {
                if let Some(ticket) = ticket.take() {
                    ticket.committed(revision);
                }
            },
        )
        .await
        .map(|(placed, _)| placed)
    }

    /// The transaction placing waiting task `key` on an instance with room, with the live placement ticket; `None`
    /// when it no longer waits or nothing has room.
    fn decide_waiting(
        &self,
        state: &State,
        key: &(String, String),
    ) -> Result<Option<(Txn, Option<crate::live_placement::Ticket>)>> {
        let Some(v) = state.tasks.get(key) else { return Ok(None) };
        let task = &v.record;
        let Some(waiting) = task.waiting.as_ref().filter(|_| is_waiting(task)) else { return Ok(None) };
        if task.desired_status != DesiredStatus::Running {
            return Ok(None);
        }
        let Some(provider) = task
            .capacity_provider_name
            .as_deref()
            .and_then(|name| state.capacity_providers.get(name))
            .filter(|p| p.record.status == ProviderStatus::Active)
        else {
            return Ok(None);
        };
        let Ok(td) = crate::task_definitions::find_task_definition_in(state, &task.task_definition_arn) else {
            return Ok(None);
        };
        let definition = &td.record.task_definition;
        let containers: Vec<_> = task.containers.iter().map(|c| c.definition.clone()).collect();
        let needs = crate::task_definitions::host_needs(definition, &containers);
        let mut demand = crate::placement::demand(
            &task.reservation,
            task.group.as_deref().unwrap_or_default(),
            &waiting.constraints,
            &waiting.strategy,
            crate::placement::task_required_attributes(definition, &needs),
            if waiting.service { DefaultStrategy::Service } else { DefaultStrategy::RunTask },
        )?;
        let group = provider.record.node_group();
        let expression = format!("attribute:{} == {group}", crate::placement::NODE_GROUP_ATTRIBUTE);
        demand.constraints.push(
            berth_scheduler::parse_constraint("memberOf", Some(&expression))
                .map_err(|e| ControlError::invalid(e.to_string()))?,
        );
        let Ok((placed, _, _, chosen, ticket)) = self.place_live(state, &task.cluster, &demand, &needs, 1) else {
            return Ok(None);
        };
        let Some(instance) = placed.first().and_then(|arn| chosen.iter().find(|v| v.record.arn == *arn)) else {
            return Ok(None);
        };
        let mut record: TaskRecord = (**task).clone();
        let mut host = (*instance.record).clone();
        host.remaining_cpu -= record.reservation.cpu;
        host.remaining_memory -= record.reservation.memory;
        host.task_tcp_ports.extend(record.reservation.tcp_ports.iter().copied());
        host.task_udp_ports.extend(record.reservation.udp_ports.iter().copied());
        record.instance_id = host.id.clone();
        record.availability_zone = host.attribute("ecs.availability-zone").map(str::to_string);
        record.cpu_architecture = host.attribute("ecs.cpu-architecture").map(str::to_string);
        record.instance_cluster = (host.cluster != record.cluster).then(|| host.cluster.clone());
        record.waiting = None;
        let task_key = keys::task(&key.0, &key.1);
        let host_key = keys::instance(&host.cluster, &host.id);
        let txn = Txn::new()
            .expect(task_key.clone(), v.mod_revision)
            .put(task_key, encode(&record)?)
            .expect(host_key.clone(), instance.mod_revision)
            .put(host_key, encode(&host)?);
        Ok(Some((txn, ticket)))
    }
}

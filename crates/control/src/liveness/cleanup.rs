//! The liveness controller's periodic cleanup: expired STOPPED tasks, client tokens, deleted task definitions.

use super::STOPPED_TASK_RETENTION_SECONDS;
use crate::metering::{UsageRecord, usage_key};
use crate::records::keys;
use crate::status::{InstanceStatus, TaskStatus};
use crate::{Control, Result};
use berth_store::Txn;

/// The most records forgotten per kind and run, to keep transactions small.
const CLEANUP_BATCH: usize = 100;

/// One cleanup run. A compare-and-swap conflict leaves the records for the next run.
pub(super) async fn run(control: &Control) -> Result<()> {
    forget_stopped_tasks(control).await?;
    release_network_slots(control).await?;
    forget_expired_tokens(control).await?;
    crate::task_definitions::forget_deleted_task_definitions(control).await?;
    Ok(())
}

/// Deletes released STOPPED tasks older than the retention, writing each one's usage record (see
/// [`crate::metering`]) in the same transaction, so that its usage is counted exactly once.
async fn forget_stopped_tasks(control: &Control) -> Result<()> {
    let now = control.now();
    let cutoff = now - STOPPED_TASK_RETENTION_SECONDS;
    let mut txn = Txn::new();
    let mut any = false;
    {
        let state = control.cache.read();
        let expired = state
            .tasks
            .iter()
            .filter(|(_, v)| v.record.last_status() == Some(TaskStatus::Stopped) && v.record.released)
            .filter(|(_, v)| v.record.stopped_at.is_some_and(|t| t < cutoff))
            .take(CLEANUP_BATCH);
        for ((cluster, id), v) in expired {
            let key = keys::task(cluster, id);
            txn = txn.expect(key.clone(), v.mod_revision).delete(key);
            if let Some(usage) = UsageRecord::of_task(&v.record, now) {
                let value = serde_json::to_vec(&usage).map_err(|e| {
                    crate::ControlError::ecs(
                        crate::EcsException::ServerException,
                        format!("encoding a usage record: {e}"),
                    )
                })?;
                txn = txn.put(usage_key(&usage), value);
            }
            any = true;
        }
    }
    if any {
        control.commit(txn, "forgetting stopped tasks").await?;
    }
    Ok(())
}

/// Gives back the awsvpc slot (its `/24` of each subnet) of every deregistered (INACTIVE) instance whose tasks have
/// all stopped, so that instances that come and go (scale-in, replaced hosts) do not use up the VPC's slots: the
/// instance record forgets its slot and the slot's claim key is deleted, in one transaction that compares the
/// instance record's revision.
async fn release_network_slots(control: &Control) -> Result<()> {
    let mut txn = Txn::new();
    let mut any = false;
    {
        let state = control.cache.read();
        let releasable = state
            .instances
            .values()
            .filter(|v| v.record.network_slot.is_some() && v.record.status() == Some(InstanceStatus::Inactive))
            .filter(|v| {
                state.tasks_on_instance(&v.record.id).all(|t| t.record.last_status() == Some(TaskStatus::Stopped))
            })
            .take(CLEANUP_BATCH);
        for v in releasable {
            let mut record = (*v.record).clone();
            let Some(slot) = record.network_slot.take() else { continue };
            record.task_addresses.clear();
            let key = keys::instance(&record.cluster, &record.id);
            txn = txn
                .expect(key.clone(), v.mod_revision)
                .put(key, crate::encode(&record)?)
                .delete(keys::network_slot(slot));
            any = true;
        }
    }
    if any {
        control.commit(txn, "releasing the network slots of deregistered instances").await?;
    }
    Ok(())
}

/// Deletes client token records older than the idempotency window: a retry after it is a new request.
pub async fn forget_expired_tokens(control: &Control) -> Result<()> {
    let expired: Vec<(String, i64)> = {
        let state = control.cache.read();
        state
            .tokens
            .iter()
            .filter(|(_, v)| control.token_expired(&v.record))
            .take(CLEANUP_BATCH)
            .map(|(k, v)| (k.clone(), v.mod_revision))
            .collect()
    };
    delete(control, expired, "forgetting expired client tokens").await
}

/// Deletes `keys` if each is still at its revision.
async fn delete(control: &Control, expired: Vec<(String, i64)>, context: &str) -> Result<()> {
    if expired.is_empty() {
        return Ok(());
    }
    let mut txn = Txn::new();
    for (key, revision) in expired {
        txn = txn.expect(key.clone(), revision).delete(key);
    }
    control.commit(txn, context).await?;
    Ok(())
}

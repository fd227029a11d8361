//! ECS's daemon auto repair, the host half: an instance the daemon scheduler drained for a stopped daemon task and
//! marked for replacement ([`crate::records::InstanceRecord::daemon_replacement`]) gets one new host from its node
//! group's node provider, and is removed (its last daemon tasks stopped, the host taken away by the provider, the
//! container instance deregistered) once only daemon tasks are left on it: the services' tasks leave a DRAINING
//! instance by themselves, and their replacements go to the new host once its daemon runs (the daemon gate).
//!
//! The launch is written to the record before the provider is asked, so that a restarted server does not ask
//! twice; a launch the provider refuses is asked for again at the next look.

use super::node_groups::{Removal, Work, removal_state};
use super::nodes::{NodeLaunch, NodeProvider, NodeRemoval};
use super::scaler::Launch;
use crate::optimistic::Attempt;
use crate::records::{DaemonReplacement, InstanceRecord};
use crate::status::InstanceStatus;
use crate::{Control, Result, encode};
use berth_store::Txn;
use std::sync::Arc;

/// A replacement to ask for: (cluster, instance id, node group, its provider).
type Pending = (String, String, String, Arc<dyn NodeProvider>);

impl Control {
    /// Whether the instance's node provider can take it away: a stopped daemon task then replaces the instance
    /// instead of restarting in place.
    pub(crate) fn replaceable(&self, instance: &InstanceRecord) -> bool {
        let Some(providers) = self.node_providers.get() else { return false };
        let provider = instance.node_group.as_deref().and_then(|group| providers.get(group));
        provider.is_some_and(|p| p.can_remove(instance.ec2_instance_id.as_deref().unwrap_or_default()))
    }

    /// One look: asks for the replacements not asked for yet and removes the replaced hosts that are empty.
    pub async fn replace_daemon_hosts(&self) -> Result<()> {
        let Some(providers) = self.node_providers.get() else { return Ok(()) };
        let now = self.now();
        let (pending, work) = {
            let state = self.cache.read();
            let mut pending: Vec<Pending> = Vec::new();
            let mut work = Vec::new();
            for v in state.instances.values() {
                let instance = v.record.as_ref();
                let Some(replacement) = &instance.daemon_replacement else { continue };
                if instance.status == InstanceStatus::Inactive {
                    continue;
                }
                let Some(group) = instance.node_group.as_deref() else { continue };
                let Some(provider) = providers.get(group) else { continue };
                if !replacement.launched {
                    pending.push((instance.cluster.clone(), instance.id.clone(), group.to_string(), provider.clone()));
                    continue;
                }
                match removal_state(&state, &instance.cluster, &instance.id) {
                    // Gone already, or its services' tasks are still leaving.
                    Removal::Gone | Removal::Busy => {}
                    Removal::Daemons(tasks) if tasks.is_empty() => {}
                    Removal::Daemons(tasks) => work.push(Work::StopTasks { cluster: instance.cluster.clone(), tasks }),
                    Removal::Empty(record) => {
                        tracing::info!(instance = %record.id, "daemon auto repair: removing the replaced host");
                        work.push(Work::Remove(
                            provider.clone(),
                            NodeRemoval {
                                cluster: record.cluster.clone(),
                                group: group.to_string(),
                                instance_arn: record.arn.clone(),
                                ec2_instance_id: record.ec2_instance_id.clone().unwrap_or_default(),
                            },
                        ));
                    }
                }
            }
            (pending, work)
        };
        for (cluster, id, group, provider) in pending {
            if !self.mark_replacement(&cluster, &id, true).await? {
                continue;
            }
            let launch = NodeLaunch { cluster: cluster.clone(), group, count: 1 };
            match provider.launch(launch.clone()).await {
                Ok(started) if started > 0 => {
                    tracing::info!(instance = %id, group = %launch.group,
                        "daemon auto repair: a replacement host was started");
                    self.remember_launch(&launch, Launch { at: now, count: started });
                }
                outcome => {
                    let why = outcome.err().unwrap_or_else(|| "the node provider is at its limit".into());
                    tracing::warn!(instance = %id, group = %launch.group, error = %why,
                        "daemon auto repair: no replacement host yet; asking again at the next look");
                    self.mark_replacement(&cluster, &id, false).await?;
                }
            }
        }
        for item in work {
            self.act(item, now).await;
        }
        Ok(())
    }

    /// Writes whether the replacement of instance `id` was asked for; `false` when the instance is gone or no
    /// longer to be replaced (nothing to ask for).
    async fn mark_replacement(&self, cluster: &str, id: &str, launched: bool) -> Result<bool> {
        self.write("recording a daemon host replacement", |state, _| {
            let Some(v) = state.instances.get(&(cluster.to_string(), id.to_string())) else {
                return Ok(Attempt::Done(false));
            };
            let Some(replacement) = &v.record.daemon_replacement else { return Ok(Attempt::Done(false)) };
            if replacement.launched == launched {
                return Ok(Attempt::Done(!launched));
            }
            let mut record = (*v.record).clone();
            record.daemon_replacement = Some(DaemonReplacement { launched });
            record.version += 1;
            let key = crate::records::keys::instance(cluster, id);
            let txn = Txn::new().expect(key.clone(), v.mod_revision).put(key, encode(&record)?);
            Ok(Attempt::Commit(txn, true))
        })
        .await
    }
}

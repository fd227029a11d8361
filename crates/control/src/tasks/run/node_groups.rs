//! Placement under a strategy of node group capacity providers: the strategy's split (base first, then by
//! weight, counting what the service already runs on each provider) decides how many tasks each provider gets,
//! and each provider's tasks are placed only on the cluster's instances of its node group.

use super::{Closest, Prepared};
use crate::cache::{State, Versioned};
use crate::records::{InstanceRecord, ProviderStatus};
use crate::status::InstanceStatus;
use crate::{Control, ControlError, Result};
use berth_model::ecs::Failure;

/// ECS's reason when a capacity provider has no container instance to place on.
pub const NO_PROVIDER_INSTANCES: &str = "No Container Instances were found in your capacity provider";

/// What a placement over node groups produced: the chosen instance ARN of each placed task, the failures, the
/// closest match, the chosen instances' records, the tickets holding the reservations, each placed task's
/// capacity provider (in the order of the ARNs), and the provider of each task that waits for capacity (managed
/// scaling) instead of failing.
pub(super) type NodeGroupAttempt = (
    Vec<String>,
    Vec<Failure>,
    Closest,
    Vec<Versioned<InstanceRecord>>,
    Vec<crate::live_placement::Ticket>,
    Vec<String>,
    Vec<String>,
);

impl Control {
    /// Places `count` tasks under `p`'s node group strategy on `cluster`'s live placement state.
    pub(super) fn place_on_node_groups(
        &self,
        state: &State,
        cluster: &str,
        p: &Prepared,
        demand: &berth_scheduler::TaskDemand,
        needs: &berth_model::host_access::HostNeeds,
        count: usize,
    ) -> Result<NodeGroupAttempt> {
        let split = crate::tasks::fargate::split(&p.launch.strategy, &p.provider_counts, count);
        let mut out: NodeGroupAttempt = Default::default();
        for item in &p.launch.strategy {
            let name = &item.capacity_provider;
            let n = split.iter().filter(|s| *s == name).count();
            if n == 0 {
                continue;
            }
            let arn = self.arn(&format!("capacity-provider/{name}"));
            let Some(provider) =
                state.capacity_providers.get(name).filter(|v| v.record.status == ProviderStatus::Active)
            else {
                out.1.push(Failure {
                    arn: Some(arn),
                    reason: Some("MISSING".into()),
                    detail: Some(format!("capacity provider {name} does not exist")),
                });
                continue;
            };
            let group = provider.record.node_group();
            // Under managed scaling a task that does not fit waits for capacity (PROVISIONING, placed nowhere), as
            // on ECS; an awsvpc task is not held back (its interface is allocated only at placement).
            let waits = provider.record.managed_scaling.enabled && p.network.is_none();
            let has_instances = state.instances.values().any(|v| {
                v.record.cluster == cluster
                    && v.record.node_group.as_deref() == Some(group)
                    && v.record.status != InstanceStatus::Inactive
            });
            if !has_instances && waits {
                out.6.extend(std::iter::repeat_n(name.clone(), n));
                continue;
            }
            if !has_instances {
                out.1.push(Failure {
                    arn: Some(arn),
                    reason: Some(NO_PROVIDER_INSTANCES.into()),
                    detail: Some(format!(
                        "no container instance of cluster {cluster} belongs to node group {group} (berth agent --node-group {group})"
                    )),
                });
                continue;
            }
            let mut own = demand.clone();
            let expression = format!("attribute:{} == {group}", crate::placement::NODE_GROUP_ATTRIBUTE);
            own.constraints.push(
                berth_scheduler::parse_constraint("memberOf", Some(&expression))
                    .map_err(|e| ControlError::invalid(e.to_string()))?,
            );
            let (placed, failures, closest, chosen, ticket) = self.place_live(state, cluster, &own, needs, n)?;
            out.5.extend(std::iter::repeat_n(name.clone(), placed.len()));
            if waits {
                out.6.extend(std::iter::repeat_n(name.clone(), n.saturating_sub(placed.len())));
            } else {
                out.1.extend(failures);
            }
            out.0.extend(placed);
            out.2 = out.2.take().or(closest);
            out.3.extend(chosen);
            out.4.extend(ticket);
        }
        Ok(out)
    }
}

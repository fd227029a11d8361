//! Node providers: what adds hosts to a node group and takes them away, as an Auto Scaling group does for ECS's
//! managed scaling. The server configures one per node group (`berth server --node-provider GROUP=...`); the
//! managed scaling controller ([`super::node_groups`]) asks it for hosts when a capacity provider's tasks do not
//! fit, and to remove drained, idle hosts when the reservation stays under the target.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a node provider's calls return: a result with the reason as text (it is logged and shown as the capacity
/// provider's scaling activity).
pub type NodeFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// A request for more hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLaunch {
    /// The cluster the new hosts join.
    pub cluster: String,
    /// Their node group (`berth agent --node-group`).
    pub group: String,
    /// How many hosts to add.
    pub count: u64,
}

/// A host to take away: drained, its tasks stopped; the controller deregisters its container instance after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRemoval {
    /// The cluster it is registered in.
    pub cluster: String,
    /// Its node group.
    pub group: String,
    /// Its container instance's ARN.
    pub instance_arn: String,
    /// The name it registered with (`ec2InstanceId`: the agent's `--hostname`).
    pub ec2_instance_id: String,
}

/// A source of hosts for one node group.
pub trait NodeProvider: Send + Sync {
    /// What it is, for logs (e.g. `local agents, 1024 CPU units and 2048 MiB each, at most 3`).
    fn describe(&self) -> String;

    /// Starts up to `launch.count` hosts that join `launch.cluster` in `launch.group`; answers how many it started
    /// (fewer when it is at its limit).
    fn launch(&self, launch: NodeLaunch) -> NodeFuture<'_, u64>;

    /// Whether it can take away the host that registered as `ec2_instance_id` (the built-in local provider only
    /// removes the agents it started).
    fn can_remove(&self, ec2_instance_id: &str) -> bool;

    /// Stops the host of `removal` (already drained; nothing of its tasks runs any more).
    fn remove(&self, removal: NodeRemoval) -> NodeFuture<'_, ()>;
}

/// The configured node providers, by node group name.
pub type NodeProviders = BTreeMap<String, Arc<dyn NodeProvider>>;

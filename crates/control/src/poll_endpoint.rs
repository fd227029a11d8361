//! DiscoverPollEndpoint: where an agent talks to the control plane.
//!
//! ECS answers the endpoint of its (private) agent communication service. Berth's agent protocol
//! (`berth_model::agent`) lives on the API listener under `/agent/v1/`, so the answer is the server's advertised
//! URL with that path: the same base `berth agent --server` uses. Berth has no separate telemetry service (an
//! agent's heartbeats and task reports go to `/agent/v1/report` on the same base), so `telemetryEndpoint` is that
//! base too; Service Connect does not exist in Berth, so `serviceConnectEndpoint` is absent.

use crate::status::InstanceStatus;
use crate::{Control, ControlError, Result};
use berth_model::ecs::{DiscoverPollEndpointRequest, DiscoverPollEndpointResponse};

/// The path of the agent protocol under the server's URL.
pub const AGENT_PATH: &str = "/agent/v1/";

impl Control {
    /// `DiscoverPollEndpoint`: the agent protocol's base URL on this server. An unknown cluster is
    /// `ClusterNotFoundException`; a named container instance must exist in it.
    pub fn discover_poll_endpoint(&self, req: DiscoverPollEndpointRequest) -> Result<DiscoverPollEndpointResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        if let Some(text) = req.container_instance.as_deref().filter(|t| !t.trim().is_empty()) {
            let key = crate::instances::parse_instance_ref(&cluster, text)?;
            let known = self
                .cache
                .read()
                .instances
                .get(&key)
                .is_some_and(|v| v.record.status() != Some(InstanceStatus::Inactive));
            if !known {
                return Err(ControlError::invalid(format!(
                    "Container instance {text} is not registered in cluster {cluster}."
                )));
            }
        }
        let base = self.config.advertised_url.as_deref().ok_or_else(|| {
            ControlError::client("This Berth server was started without an advertised URL; agents cannot discover it.")
        })?;
        let endpoint = format!("{}{AGENT_PATH}", base.trim_end_matches('/'));
        Ok(DiscoverPollEndpointResponse {
            endpoint: Some(endpoint.clone()),
            telemetry_endpoint: Some(endpoint),
            service_connect_endpoint: None,
        })
    }
}

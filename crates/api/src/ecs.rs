//! The ECS operations: each decodes its request, calls the control plane, and encodes the answer.

use crate::error::ApiError;
use crate::protocol::json11::{decode, encode};
use berth_control::Control;
use berth_control::state_changes::AgentCaller;
use berth_model::ecs::OPERATIONS;
use http::StatusCode;

/// The operations an agent's instance token may call, and only it may call the `Submit*` ones.
const AGENT_OPERATIONS: [&str; 4] =
    ["SubmitTaskStateChange", "SubmitContainerStateChange", "SubmitAttachmentStateChanges", "DiscoverPollEndpoint"];

/// Refuses an operation the caller's kind of identity may not call: an agent only [`AGENT_OPERATIONS`], other
/// callers (root or ordinary credentials) not the `Submit*` ones.
pub(crate) fn authorize(operation: &str, agent: Option<&AgentCaller>) -> Result<(), ApiError> {
    let denied = |message: String| Err(ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", message));
    match agent {
        Some(_) if !AGENT_OPERATIONS.contains(&operation) => {
            denied(format!("An agent's instance token does not allow {operation}; sign the request with credentials."))
        }
        None if operation.starts_with("Submit") => denied(format!(
            "{operation} is only accepted from a Berth agent (authenticated by its instance token), not from \
             account credentials."
        )),
        _ => Ok(()),
    }
}

/// The resource an ECS create call makes, when it carries tags and the caller's `tagResourceAuthorization` is `on`:
/// then the caller must also be allowed `ecs:TagResource` on it (with `ecs:CreateAction`), as on ECS. Resources
/// whose id the server picks (tasks, container instances, task sets) are named with a `*` for that id.
pub(crate) fn tag_on_create(
    control: &Control,
    operation: &str,
    input: &serde_json::Value,
    principal_arn: &str,
) -> Option<String> {
    use berth_model::ecs::SettingName;
    let member = |name: &str| input.get(name).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
    let tagged = input.get("tags").and_then(serde_json::Value::as_array).is_some_and(|t| !t.is_empty());
    if !tagged {
        return None;
    }
    let short = |value: &str| value.rsplit('/').next().unwrap_or(value).to_string();
    let cluster = member("cluster").map(short).unwrap_or_else(|| "default".into());
    let cluster_of_arn = member("clusterArn").map(short).unwrap_or_else(|| "default".into());
    let resource = match operation {
        "CreateCluster" => format!("cluster/{}", member("clusterName").unwrap_or("default")),
        "CreateService" => format!("service/{cluster}/{}", member("serviceName")?),
        "RegisterTaskDefinition" => format!("task-definition/{}:*", member("family")?),
        "RunTask" | "StartTask" => format!("task/{cluster}/*"),
        "RegisterContainerInstance" => format!("container-instance/{cluster}/*"),
        "CreateCapacityProvider" => format!("capacity-provider/{}", member("name")?),
        "CreateDaemon" => format!("daemon/{cluster_of_arn}/{}", member("daemonName")?),
        "RegisterDaemonTaskDefinition" => format!("daemon-task-definition/{}:*", member("family")?),
        "CreateTaskSet" => format!("task-set/{cluster}/{}/*", short(member("service")?)),
        _ => return None,
    };
    let setting = control.effective_account_setting(SettingName::TagResourceAuthorization, principal_arn);
    (setting.value.as_deref() == Some("on")).then(|| control.arn(&resource))
}

/// Calls one ECS operation with a JSON body; returns the JSON response body. `agent` is the container instance
/// when the caller authenticated with an agent's instance token.
pub async fn dispatch(
    control: &Control,
    operation: &str,
    body: &[u8],
    agent: Option<&AgentCaller>,
) -> Result<Vec<u8>, ApiError> {
    macro_rules! call {
        (async $method:ident) => {{ encode(&control.$method(decode(body)?).await?) }};
        (sync $method:ident) => {{ encode(&control.$method(decode(body)?)?) }};
        (agent $method:ident) => {{
            let agent = agent.ok_or_else(|| ApiError::internal(&"an agent operation without an agent caller"))?;
            encode(&control.$method(agent, decode(body)?).await?)
        }};
    }
    if OPERATIONS.contains(&operation) {
        authorize(operation, agent)?;
    }
    if !AGENT_OPERATIONS.contains(&operation) {
        // Answer as of now, not as of this server's cache: another server's write that completed before this call
        // must show (agent reports look up what their cache lacks themselves).
        control.catch_up_with_store().await?;
    }
    match operation {
        "CreateCluster" => call!(async create_cluster),
        "DescribeClusters" => call!(sync describe_clusters),
        "ListClusters" => call!(sync list_clusters),
        "DeleteCluster" => call!(async delete_cluster),
        "UpdateCluster" => call!(async update_cluster),
        "UpdateClusterSettings" => call!(async update_cluster_settings),
        "RegisterTaskDefinition" => call!(async register_task_definition),
        "DescribeTaskDefinition" => call!(sync describe_task_definition),
        "ListTaskDefinitions" => call!(sync list_task_definitions),
        "ListTaskDefinitionFamilies" => call!(sync list_task_definition_families),
        "DeregisterTaskDefinition" => call!(async deregister_task_definition),
        "DeleteTaskDefinitions" => call!(async delete_task_definitions),
        "RegisterContainerInstance" => call!(async register_container_instance),
        "DeregisterContainerInstance" => call!(async deregister_container_instance),
        "ListContainerInstances" => call!(sync list_container_instances),
        "DescribeContainerInstances" => call!(sync describe_container_instances),
        "UpdateContainerInstancesState" => call!(async update_container_instances_state),
        "RunTask" => call!(async run_task),
        "StartTask" => call!(async start_task),
        "StopTask" => call!(async stop_task),
        "DescribeTasks" => call!(sync describe_tasks),
        "ListTasks" => call!(sync list_tasks),
        "CreateService" => call!(async create_service),
        "UpdateService" => call!(async update_service),
        "DeleteService" => call!(async delete_service),
        "DescribeServices" => call!(sync describe_services),
        "ListServices" => call!(sync list_services),
        "ListServicesByNamespace" => call!(sync list_services_by_namespace),
        "DescribeServiceDeployments" => call!(sync describe_service_deployments),
        "ListServiceDeployments" => call!(sync list_service_deployments),
        "DescribeServiceRevisions" => call!(sync describe_service_revisions),
        "StopServiceDeployment" => call!(async stop_service_deployment),
        "ContinueServiceDeployment" => call!(async continue_service_deployment),
        "PutAttributes" => call!(async put_attributes),
        "ListAttributes" => call!(sync list_attributes),
        "DeleteAttributes" => call!(async delete_attributes),
        "TagResource" => call!(async tag_resource),
        "UntagResource" => call!(async untag_resource),
        "ListTagsForResource" => call!(sync list_tags_for_resource),
        "PutAccountSetting" => call!(async put_account_setting),
        "PutAccountSettingDefault" => call!(async put_account_setting_default),
        "ListAccountSettings" => call!(sync list_account_settings),
        "DeleteAccountSetting" => call!(async delete_account_setting),
        "DiscoverPollEndpoint" => call!(sync discover_poll_endpoint),
        "GetTaskProtection" => call!(sync get_task_protection),
        "UpdateTaskProtection" => call!(async update_task_protection),
        "SubmitTaskStateChange" => call!(agent submit_task_state_change),
        "SubmitContainerStateChange" => call!(agent submit_container_state_change),
        "SubmitAttachmentStateChanges" => call!(agent submit_attachment_state_changes),
        "UpdateContainerAgent" => call!(async update_container_agent),
        "CreateCapacityProvider" => call!(async create_capacity_provider),
        "UpdateCapacityProvider" => call!(async update_capacity_provider),
        "DeleteCapacityProvider" => call!(async delete_capacity_provider),
        "DescribeCapacityProviders" => call!(sync describe_capacity_providers),
        "PutClusterCapacityProviders" => call!(async put_cluster_capacity_providers),
        "CreateExpressGatewayService" => call!(async create_express_gateway_service),
        "DescribeExpressGatewayService" => call!(async describe_express_gateway_service),
        "UpdateExpressGatewayService" => call!(async update_express_gateway_service),
        "DeleteExpressGatewayService" => call!(async delete_express_gateway_service),
        "CreateTaskSet" => call!(async create_task_set),
        "DescribeTaskSets" => call!(sync describe_task_sets),
        "UpdateTaskSet" => call!(async update_task_set),
        "DeleteTaskSet" => call!(async delete_task_set),
        "UpdateServicePrimaryTaskSet" => call!(async update_service_primary_task_set),
        "RegisterDaemonTaskDefinition" => call!(async register_daemon_task_definition),
        "DescribeDaemonTaskDefinition" => call!(sync describe_daemon_task_definition),
        "DeleteDaemonTaskDefinition" => call!(async delete_daemon_task_definition),
        "ListDaemonTaskDefinitions" => call!(sync list_daemon_task_definitions),
        "CreateDaemon" => call!(async create_daemon),
        "UpdateDaemon" => call!(async update_daemon),
        "DeleteDaemon" => call!(async delete_daemon),
        "DescribeDaemon" => call!(sync describe_daemon),
        "ListDaemons" => call!(sync list_daemons),
        "DescribeDaemonDeployments" => call!(sync describe_daemon_deployments),
        "ListDaemonDeployments" => call!(sync list_daemon_deployments),
        "DescribeDaemonRevisions" => call!(sync describe_daemon_revisions),
        known if OPERATIONS.contains(&known) => {
            Err(ApiError::bad_request("UnsupportedFeatureException", unsupported_operation_message(known)))
        }
        unknown => Err(ApiError::unknown_operation(&format!("{}.{unknown}", berth_model::ecs::TARGET_PREFIX))),
    }
}

/// The open capability an operation Berth does not answer yet belongs to, so the caller knows what is missing.
fn open_capability(operation: &str) -> Option<&'static str> {
    if operation.contains("Gateway") { Some("ECS Express Mode gateways") } else { None }
}

/// The message of the UnsupportedFeatureException an operation of the model that Berth does not answer gives.
fn unsupported_operation_message(operation: &str) -> String {
    match open_capability(operation) {
        Some(capability) => format!("{operation} is not supported by Berth yet: it belongs to {capability}."),
        None => format!("{operation} is not supported by Berth yet."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_operations_name_their_capability() {
        assert_eq!(open_capability("CreateCapacityProvider"), None);
        assert_eq!(open_capability("UpdateTaskSet"), None, "task sets are answered");
        assert_eq!(open_capability("ListDaemons"), None, "daemons are answered");
        assert!(unsupported_operation_message("CreateGateway").contains("Express"));
    }
}

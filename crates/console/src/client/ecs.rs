//! The ECS calls the pages make, answered in Berth's wire types (`berth_model::ecs`). Lists are read to their end
//! (bounded), describes batched to ECS's limits.

use super::{Api, ApiError, Caller, ECS};
use berth_model::ecs;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The most pages of one list the console reads (ECS pages hold 100 ARNs).
const MAX_PAGES: usize = 50;

/// An ECS operation, its answer decoded as `T`.
pub async fn call<T: DeserializeOwned>(
    api: &Api,
    caller: Caller<'_>,
    operation: &str,
    input: Value,
) -> Result<T, ApiError> {
    let answer = api.json(caller, ECS, operation, &input).await?;
    serde_json::from_value(answer)
        .map_err(|e| ApiError::Internal { operation: operation.to_string(), detail: format!("its answer: {e}") })
}

/// Every page of a list operation, the ARNs in `member`.
async fn list(
    api: &Api,
    caller: Caller<'_>,
    operation: &str,
    input: Value,
    member: &str,
) -> Result<Vec<String>, ApiError> {
    let items = super::aws::pages(api, caller, ECS, operation, input, member, MAX_PAGES).await?;
    Ok(items.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// Every cluster, with statistics.
pub async fn clusters(api: &Api, caller: Caller<'_>) -> Result<Vec<ecs::Cluster>, ApiError> {
    let arns = list(api, caller, "ListClusters", json!({}), "clusterArns").await?;
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let answer: ecs::DescribeClustersResponse =
            call(api, caller, "DescribeClusters", json!({ "clusters": chunk, "include": ["STATISTICS"] })).await?;
        out.extend(answer.clusters.unwrap_or_default());
    }
    Ok(out)
}

/// One cluster; `None` when ECS names it a failure (missing).
pub async fn cluster(api: &Api, caller: Caller<'_>, name: &str) -> Result<Option<ecs::Cluster>, ApiError> {
    let answer: ecs::DescribeClustersResponse =
        call(api, caller, "DescribeClusters", json!({ "clusters": [name], "include": ["STATISTICS"] })).await?;
    Ok(answer.clusters.unwrap_or_default().into_iter().next())
}

/// A cluster's container instances.
pub async fn instances(api: &Api, caller: Caller<'_>, cluster: &str) -> Result<Vec<ecs::ContainerInstance>, ApiError> {
    let arns =
        list(api, caller, "ListContainerInstances", json!({ "cluster": cluster }), "containerInstanceArns").await?;
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let answer: ecs::DescribeContainerInstancesResponse =
            call(api, caller, "DescribeContainerInstances", json!({ "cluster": cluster, "containerInstances": chunk }))
                .await?;
        out.extend(answer.container_instances.unwrap_or_default());
    }
    Ok(out)
}

/// A cluster's services.
pub async fn services(api: &Api, caller: Caller<'_>, cluster: &str) -> Result<Vec<ecs::Service>, ApiError> {
    let arns = list(api, caller, "ListServices", json!({ "cluster": cluster }), "serviceArns").await?;
    let mut out = Vec::new();
    for chunk in arns.chunks(10) {
        let answer: ecs::DescribeServicesResponse =
            call(api, caller, "DescribeServices", json!({ "cluster": cluster, "services": chunk })).await?;
        out.extend(answer.services.unwrap_or_default());
    }
    Ok(out)
}

/// One service; `None` when it does not exist.
pub async fn service(
    api: &Api,
    caller: Caller<'_>,
    cluster: &str,
    name: &str,
) -> Result<Option<ecs::Service>, ApiError> {
    let answer: ecs::DescribeServicesResponse =
        call(api, caller, "DescribeServices", json!({ "cluster": cluster, "services": [name] })).await?;
    Ok(answer.services.unwrap_or_default().into_iter().next())
}

/// The tasks of a cluster (of one service when given), running and stopped, described.
pub async fn tasks(
    api: &Api,
    caller: Caller<'_>,
    cluster: &str,
    service: Option<&str>,
) -> Result<Vec<ecs::Task>, ApiError> {
    let mut arns = Vec::new();
    for status in ["RUNNING", "STOPPED"] {
        let mut input = json!({ "cluster": cluster, "desiredStatus": status });
        if let (Some(service), Some(object)) = (service, input.as_object_mut()) {
            object.insert("serviceName".into(), json!(service));
        }
        arns.extend(list(api, caller, "ListTasks", input, "taskArns").await?);
    }
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let answer: ecs::DescribeTasksResponse =
            call(api, caller, "DescribeTasks", json!({ "cluster": cluster, "tasks": chunk })).await?;
        out.extend(answer.tasks.unwrap_or_default());
    }
    out.sort_by(|a, b| b.created_at.unwrap_or(0.0).total_cmp(&a.created_at.unwrap_or(0.0)));
    Ok(out)
}

/// One task; `None` when it does not exist.
pub async fn task(api: &Api, caller: Caller<'_>, cluster: &str, id: &str) -> Result<Option<ecs::Task>, ApiError> {
    let answer: ecs::DescribeTasksResponse =
        call(api, caller, "DescribeTasks", json!({ "cluster": cluster, "tasks": [id] })).await?;
    Ok(answer.tasks.unwrap_or_default().into_iter().next())
}

/// A task definition.
pub async fn task_definition(api: &Api, caller: Caller<'_>, name: &str) -> Result<ecs::TaskDefinition, ApiError> {
    let answer: ecs::DescribeTaskDefinitionResponse =
        call(api, caller, "DescribeTaskDefinition", json!({ "taskDefinition": name })).await?;
    answer.task_definition.ok_or_else(|| ApiError::Internal {
        operation: "DescribeTaskDefinition".into(),
        detail: "the answer has no task definition".into(),
    })
}

/// UpdateService with `input`'s members besides the cluster and service.
pub async fn update_service(
    api: &Api,
    caller: Caller<'_>,
    cluster: &str,
    service: &str,
    mut input: Value,
) -> Result<ecs::Service, ApiError> {
    if let Some(object) = input.as_object_mut() {
        object.insert("cluster".into(), json!(cluster));
        object.insert("service".into(), json!(service));
    }
    let answer: ecs::UpdateServiceResponse = call(api, caller, "UpdateService", input).await?;
    answer.service.ok_or_else(|| ApiError::Internal {
        operation: "UpdateService".into(),
        detail: "the answer has no service".into(),
    })
}

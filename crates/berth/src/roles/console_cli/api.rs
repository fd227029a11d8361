//! ECS calls for the day-to-day commands, signed as the aws CLI signs them, with the answers in Berth's own wire
//! types (`berth_model::ecs`), which `--output json` prints as they came. Lists are read to their end and
//! describes are batched to ECS's limits.

use super::connect::Connection;
use anyhow::{Context, Result};
use berth_model::ecs;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// ECS's JSON target prefix.
const TARGET: &str = "AmazonEC2ContainerServiceV20141113";

/// A signed ECS client.
pub struct Ecs {
    connection: Connection,
    http: reqwest::Client,
}

impl Ecs {
    /// A client over `connection`.
    pub fn new(connection: Connection) -> Result<Self> {
        let http = super::super::aws::reqwest_client(connection.ca_pem.as_deref())?;
        Ok(Self { connection, http })
    }

    /// Calls `operation` with `body`; its answer decoded as `T`.
    pub async fn call<T: DeserializeOwned>(&self, operation: &str, body: Value) -> Result<T> {
        let target = format!("{TARGET}.{operation}");
        let answer = super::super::aws::call_json_with(&self.http, &self.connection.sdk, "ecs", &target, &body).await?;
        serde_json::from_value(answer).with_context(|| format!("reading the answer to {operation}"))
    }

    /// Every page of a list operation, `member` of each answer.
    async fn list(&self, operation: &str, body: Value, member: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = body.clone();
            if let (Some(token), Some(object)) = (&token, request.as_object_mut()) {
                object.insert("nextToken".into(), json!(token));
            }
            let page: Value = self.call(operation, request).await?;
            if let Some(items) = page.get(member).and_then(Value::as_array) {
                out.extend(items.iter().filter_map(Value::as_str).map(str::to_string));
            }
            token = page.get("nextToken").and_then(Value::as_str).map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// Clusters: these names, or every cluster.
    pub async fn clusters(&self, only: Option<&str>) -> Result<Vec<ecs::Cluster>> {
        let names = match only {
            Some(name) => vec![name.to_string()],
            None => self.list("ListClusters", json!({}), "clusterArns").await?,
        };
        let mut out = Vec::new();
        for chunk in names.chunks(100) {
            let answer: ecs::DescribeClustersResponse =
                self.call("DescribeClusters", json!({ "clusters": chunk, "include": ["STATISTICS"] })).await?;
            fail_on(&answer.failures, "cluster")?;
            out.extend(answer.clusters.unwrap_or_default());
        }
        Ok(out)
    }

    /// A cluster's container instances.
    pub async fn instances(&self, cluster: &str) -> Result<Vec<ecs::ContainerInstance>> {
        let arns = self.list("ListContainerInstances", json!({ "cluster": cluster }), "containerInstanceArns").await?;
        let mut out = Vec::new();
        for chunk in arns.chunks(100) {
            let answer: ecs::DescribeContainerInstancesResponse = self
                .call("DescribeContainerInstances", json!({ "cluster": cluster, "containerInstances": chunk }))
                .await?;
            out.extend(answer.container_instances.unwrap_or_default());
        }
        Ok(out)
    }

    /// A cluster's services.
    pub async fn services(&self, cluster: &str) -> Result<Vec<ecs::Service>> {
        let arns = self.list("ListServices", json!({ "cluster": cluster }), "serviceArns").await?;
        let mut out = Vec::new();
        for chunk in arns.chunks(10) {
            let answer: ecs::DescribeServicesResponse =
                self.call("DescribeServices", json!({ "cluster": cluster, "services": chunk })).await?;
            out.extend(answer.services.unwrap_or_default());
        }
        Ok(out)
    }

    /// One service (an error names it when it does not exist).
    pub async fn service(&self, cluster: &str, name: &str) -> Result<ecs::Service> {
        let answer: ecs::DescribeServicesResponse =
            self.call("DescribeServices", json!({ "cluster": cluster, "services": [name] })).await?;
        fail_on(&answer.failures, "service")?;
        answer
            .services
            .unwrap_or_default()
            .into_iter()
            .next()
            .with_context(|| format!("there is no service {name:?} in cluster {cluster:?}"))
    }

    /// The tasks of a cluster (of one service), running and pending, and with `stopped` the stopped ones too.
    pub async fn tasks(&self, cluster: &str, service: Option<&str>, stopped: bool) -> Result<Vec<ecs::Task>> {
        let mut arns = Vec::new();
        let statuses: &[&str] = if stopped { &["RUNNING", "STOPPED"] } else { &["RUNNING"] };
        for status in statuses {
            let mut body = json!({ "cluster": cluster, "desiredStatus": status });
            if let (Some(service), Some(object)) = (service, body.as_object_mut()) {
                object.insert("serviceName".into(), json!(service));
            }
            arns.extend(self.list("ListTasks", body, "taskArns").await?);
        }
        self.describe_tasks(cluster, &arns).await
    }

    /// These tasks, described.
    pub async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<ecs::Task>> {
        let mut out = Vec::new();
        for chunk in arns.chunks(100) {
            let answer: ecs::DescribeTasksResponse =
                self.call("DescribeTasks", json!({ "cluster": cluster, "tasks": chunk })).await?;
            out.extend(answer.tasks.unwrap_or_default());
        }
        Ok(out)
    }

    /// One task (an error names it when it does not exist).
    pub async fn task(&self, cluster: &str, id: &str) -> Result<ecs::Task> {
        let answer: ecs::DescribeTasksResponse =
            self.call("DescribeTasks", json!({ "cluster": cluster, "tasks": [id] })).await?;
        fail_on(&answer.failures, "task")?;
        answer
            .tasks
            .unwrap_or_default()
            .into_iter()
            .next()
            .with_context(|| format!("there is no task {id:?} in cluster {cluster:?}"))
    }

    /// A task definition with its tags.
    pub async fn task_definition(&self, name: &str) -> Result<ecs::DescribeTaskDefinitionResponse> {
        self.call("DescribeTaskDefinition", json!({ "taskDefinition": name, "include": ["TAGS"] })).await
    }
}

/// An error for the first failure of a describe call.
fn fail_on(failures: &Option<Vec<ecs::Failure>>, what: &str) -> Result<()> {
    match failures.as_deref().and_then(|f| f.first()) {
        Some(failure) => anyhow::bail!(
            "{what} {}: {}{}",
            failure.arn.as_deref().unwrap_or("?"),
            failure.reason.as_deref().unwrap_or("not found"),
            failure.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        None => Ok(()),
    }
}

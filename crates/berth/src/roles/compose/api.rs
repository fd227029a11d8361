//! The ECS and ECR calls `berth compose` makes, as AWS JSON 1.1 through `roles::aws::call_json`, connected as the
//! day-to-day commands are (`roles::console_cli::connect`).

use crate::roles::aws;
use serde_json::{Value, json};

/// Berth's APIs with the aws CLI's endpoint, region and credentials.
pub struct Api {
    config: aws_config::SdkConfig,
    /// The cluster the project runs in.
    pub cluster: String,
}

impl Api {
    /// Connects as `berth status` does ([`crate::roles::console_cli::connect::connect`]): the aws CLI's
    /// environment when an `AWS_*` variable is set, else the endpoint and credentials in Berth's data dir.
    pub async fn new(cluster: String, client: &crate::cli::ClientArgs) -> anyhow::Result<Self> {
        let connection = crate::roles::console_cli::connect::connect(client).await?;
        Ok(Api { config: connection.sdk, cluster })
    }

    /// The SDK configuration the calls use.
    pub fn sdk(&self) -> &aws_config::SdkConfig {
        &self.config
    }

    /// The region requests are signed for (awslogs options name it).
    pub fn region(&self) -> String {
        self.config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into())
    }

    /// Calls an ECS operation.
    pub async fn ecs(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        aws::call_json(&self.config, "ecs", &format!("AmazonEC2ContainerServiceV20141113.{operation}"), &body).await
    }

    /// Calls an ECR operation.
    pub async fn ecr(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        aws::call_json(&self.config, "ecr", &format!("AmazonEC2ContainerRegistry_V20150921.{operation}"), &body).await
    }

    /// Calls a Secrets Manager operation.
    pub async fn secrets(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        aws::call_json(&self.config, "secretsmanager", &format!("secretsmanager.{operation}"), &body).await
    }

    /// Calls an SSM Parameter Store operation.
    pub async fn ssm(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        aws::call_json(&self.config, "ssm", &format!("AmazonSSM.{operation}"), &body).await
    }

    /// The service named `name` in the cluster, when it exists and is not INACTIVE.
    pub async fn service(&self, name: &str) -> anyhow::Result<Option<Value>> {
        let answer = self.ecs("DescribeServices", json!({"cluster": self.cluster, "services": [name]})).await?;
        Ok(answer["services"]
            .as_array()
            .and_then(|s| s.first())
            .filter(|s| s["status"].as_str() != Some("INACTIVE"))
            .cloned())
    }

    /// The tasks of a service with the given desired status (`RUNNING` or `STOPPED`), described.
    pub async fn tasks(&self, service: &str, desired_status: &str) -> anyhow::Result<Vec<Value>> {
        let mut arns = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"cluster": self.cluster, "serviceName": service, "desiredStatus": desired_status});
            if let Some(token) = &token {
                body["nextToken"] = json!(token);
            }
            let page = self.ecs("ListTasks", body).await?;
            arns.extend(page["taskArns"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(String::from)));
            token = page["nextToken"].as_str().map(String::from);
            if token.is_none() {
                break;
            }
        }
        let mut tasks = Vec::new();
        for chunk in arns.chunks(100) {
            let answer = self.ecs("DescribeTasks", json!({"cluster": self.cluster, "tasks": chunk})).await?;
            tasks.extend(answer["tasks"].as_array().into_iter().flatten().cloned());
        }
        Ok(tasks)
    }
}

//! Runs inside a task's container in Berth's tests: gets credentials through the Rust SDK's default credential
//! chain (`aws-config`, unchanged: with `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` set by the agent it is the
//! container provider at 169.254.170.2) and calls Berth's ECS API with them at `BERTH_ENDPOINT`. Prints one line
//! per result, `RESULT <name> <json>`, then sleeps so that the task keeps running.
//!
//! Results: `credentials` (which members the credentials have, never their secrets), `allowed` (ListClusters's
//! cluster ARNs) and `denied` (ListTaskDefinitions's error code and message, which names the caller).

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use serde_json::{Value, json};
use std::time::Duration;

fn result(name: &str, value: Value) {
    println!("RESULT {name} {value}");
}

/// The region the SDK is given: the task's `AWS_REGION`/`AWS_DEFAULT_REGION`, else us-east-1.
fn region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "us-east-1".to_string())
}

async fn probe() -> Result<(), String> {
    let endpoint = std::env::var("BERTH_ENDPOINT").map_err(|_| "BERTH_ENDPOINT is not set".to_string())?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region()))
        .endpoint_url(endpoint)
        .load()
        .await;
    let provider = config.credentials_provider().ok_or("the default chain has no credentials provider")?;
    match provider.provide_credentials().await {
        Ok(c) => result(
            "credentials",
            json!({
                "accessKeyId": !c.access_key_id().is_empty(),
                "secretAccessKey": !c.secret_access_key().is_empty(),
                "sessionToken": c.session_token().is_some_and(|t| !t.is_empty()),
                "expires": c.expiry().is_some(),
            }),
        ),
        Err(e) => result("credentials", json!({"error": format!("{e:?}")})),
    }
    let ecs = aws_sdk_ecs::Client::new(&config);
    match ecs.list_clusters().send().await {
        Ok(out) => result("allowed", json!(out.cluster_arns())),
        Err(e) => result("allowed", json!({"code": e.code(), "message": e.message()})),
    }
    match ecs.list_task_definitions().send().await {
        Ok(out) => result("denied", json!({"unexpected": out.task_definition_arns()})),
        Err(e) => result("denied", json!({"code": e.code(), "message": e.message()})),
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = probe().await {
        result("error", json!(e));
    }
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

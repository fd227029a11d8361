//! Amazon CloudWatch Logs, served by `berth-logs`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::{AwsJsonService, ResourceFacts, tags_in, tags_wanted};
use berth_logs::Logs;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The CloudWatch Logs JSON API on a log store.
pub struct LogsService {
    logs: Arc<Logs>,
}

impl LogsService {
    /// CloudWatch Logs on this store.
    pub fn new(logs: Arc<Logs>) -> Self {
        Self { logs }
    }
}

impl AwsJsonService for LogsService {
    fn target_prefix(&self) -> &'static str {
        berth_model::logs::TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        berth_model::logs::SIGNING_NAME
    }

    fn max_body_bytes(&self) -> usize {
        // PutLogEvents carries 1 MiB of messages; JSON escaping and 10,000 events' members add to it.
        8 * 1024 * 1024
    }

    fn resource_facts<'a>(
        &'a self,
        _operation: &'a str,
        _input: &'a serde_json::Value,
        arn: &'a str,
        want_tags: bool,
    ) -> BoxFuture<'a, ResourceFacts> {
        Box::pin(async move {
            // The hook names a log group `arn:...:log-group:NAME:*`; its tags are listed by the ARN without `:*`.
            let group = arn.strip_suffix(":*").unwrap_or(arn);
            if !tags_wanted(want_tags, group) {
                return ResourceFacts::default();
            }
            let request = serde_json::json!({"resourceArn": group}).to_string();
            let answer = self.logs.call("ListTagsForResource", request.as_bytes()).await;
            ResourceFacts { tags: tags_in(answer, "tags", "", ""), ..Default::default() }
        })
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move {
            if caller.agent.is_some() && !AGENT_OPERATIONS.contains(&operation) {
                return Err(ApiError::new(
                    http::StatusCode::FORBIDDEN,
                    "AccessDeniedException",
                    format!("An agent's instance token does not allow {operation}; sign the request with credentials."),
                ));
            }
            self.logs.call(operation, body).await.map_err(ApiError::from)
        })
    }
}

/// What an agent's instance token may call: what a log shipper needs to create its group and stream and write.
pub(crate) const AGENT_OPERATIONS: &[&str] =
    &["CreateLogGroup", "CreateLogStream", "DescribeLogGroups", "DescribeLogStreams", "PutLogEvents"];

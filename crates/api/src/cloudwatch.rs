//! Amazon CloudWatch (metrics and alarms), served by `berth-metrics` over the three protocols its model lists:
//! Smithy RPC v2 CBOR (the current SDKs), AWS JSON 1.0 (the aws CLI v1 and botocore) and AWS query.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::{AwsJsonService, ResourceFacts, tags_in, tags_wanted};
use berth_metrics::Metrics;
use berth_model::schema::Schema;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The CloudWatch API on a metrics store.
pub struct CloudWatchService {
    metrics: Arc<Metrics>,
}

impl CloudWatchService {
    /// CloudWatch on this store.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl AwsJsonService for CloudWatchService {
    fn target_prefix(&self) -> &'static str {
        berth_model::cloudwatch::TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        berth_model::cloudwatch::SIGNING_NAME
    }

    fn action_prefix(&self) -> &'static str {
        "cloudwatch"
    }

    fn max_body_bytes(&self) -> usize {
        // PutMetricData allows 1 MB; the query protocol's flattened names make the same data larger.
        4 * 1024 * 1024
    }

    fn schema(&self) -> Option<&'static Schema> {
        Some(&berth_model::cloudwatch::SCHEMA)
    }

    fn json_content_type(&self) -> &'static str {
        crate::protocol::JSON10_CONTENT_TYPE
    }

    fn resource_facts<'a>(
        &'a self,
        _operation: &'a str,
        _input: &'a serde_json::Value,
        arn: &'a str,
        want_tags: bool,
    ) -> BoxFuture<'a, ResourceFacts> {
        Box::pin(async move {
            if !tags_wanted(want_tags, arn) {
                return ResourceFacts::default();
            }
            let request = serde_json::json!({"ResourceARN": arn}).to_string();
            let answer = self.metrics.call("ListTagsForResource", request.as_bytes()).await;
            ResourceFacts { tags: tags_in(answer, "Tags", "Key", "Value"), ..Default::default() }
        })
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        _caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move { self.metrics.call(operation, body).await.map_err(ApiError::from) })
    }
}

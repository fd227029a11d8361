//! Elastic Load Balancing v2 (`elbv2/2015-12-01`), served by `berth-elb` over the one protocol its model lists,
//! AWS query: the front door turns the form into the JSON shapes and the JSON answer into XML.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::{AwsJsonService, ResourceFacts, tags_in, tags_wanted};
use berth_elb::Elb;
use berth_model::schema::Schema;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The ELBv2 API on a load balancing service.
pub struct ElbService {
    elb: Arc<Elb>,
}

impl ElbService {
    /// ELBv2 on this service.
    pub fn new(elb: Arc<Elb>) -> Self {
        Self { elb }
    }
}

impl AwsJsonService for ElbService {
    fn target_prefix(&self) -> &'static str {
        // Query only: no `X-Amz-Target` prefix routes here (the front door skips an empty one).
        ""
    }

    fn signing_name(&self) -> &'static str {
        berth_model::elbv2::SIGNING_NAME
    }

    fn max_body_bytes(&self) -> usize {
        // The largest requests are rules and target registrations: a few KiB each.
        256 * 1024
    }

    fn schema(&self) -> Option<&'static Schema> {
        Some(&berth_model::elbv2::SCHEMA)
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
            let request = serde_json::json!({"ResourceArns": [arn]}).to_string();
            let tags = tags_in(self.elb.call("DescribeTags", request.as_bytes()).await, "Tags", "Key", "Value");
            ResourceFacts { tags, ..Default::default() }
        })
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        _caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move { self.elb.call(operation, body).await.map_err(ApiError::from) })
    }
}

//! IAM (`iam/2010-05-08`) and STS (`sts/2011-06-15`), served by `berth-iam` over the one protocol their models
//! list, AWS query: the front door turns the form into the JSON shapes and the JSON answer into XML.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::{AwsJsonService, ResourceFacts, tags_in, tags_wanted};
use berth_iam::Iam;
use berth_model::schema::Schema;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The caller as IAM's operations see it.
fn iam_caller(caller: &Caller) -> berth_iam::ops::Caller {
    berth_iam::ops::Caller { arn: caller.arn.clone(), identity: caller.identity.clone() }
}

/// The IAM API.
pub struct IamService {
    iam: Arc<Iam>,
}

impl IamService {
    /// IAM on this service.
    pub fn new(iam: Arc<Iam>) -> Self {
        Self { iam }
    }
}

impl AwsJsonService for IamService {
    fn target_prefix(&self) -> &'static str {
        // Query only.
        ""
    }

    fn signing_name(&self) -> &'static str {
        berth_model::iam::SIGNING_NAME
    }

    fn max_body_bytes(&self) -> usize {
        // Policy documents are the largest members (10 KiB for a role's inline policies), URL-encoded.
        256 * 1024
    }

    fn schema(&self) -> Option<&'static Schema> {
        Some(&berth_model::iam::SCHEMA)
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
            // Users and roles (by name: the last part of their path); other IAM resources have no tags here.
            let resource = arn.split_once(":iam::").and_then(|(_, rest)| rest.split_once(':')).map(|(_, r)| r);
            let (operation, member) = match resource {
                Some(r) if r.starts_with("role/") => ("ListRoleTags", "RoleName"),
                Some(r) if r.starts_with("user/") => ("ListUserTags", "UserName"),
                _ => return ResourceFacts::default(),
            };
            let name = arn.rsplit('/').next().unwrap_or_default();
            let request = serde_json::json!({ member: name }).to_string();
            let internal = berth_iam::ops::Caller { arn: "berth:authorization".into(), identity: None };
            let answer = self.iam.call_iam(operation, request.as_bytes(), &internal).await;
            ResourceFacts { tags: tags_in(answer, "Tags", "Key", "Value"), ..Default::default() }
        })
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move { self.iam.call_iam(operation, body, &iam_caller(caller)).await.map_err(ApiError::from) })
    }
}

/// The STS API.
pub struct StsService {
    iam: Arc<Iam>,
}

impl StsService {
    /// STS on this IAM.
    pub fn new(iam: Arc<Iam>) -> Self {
        Self { iam }
    }
}

impl AwsJsonService for StsService {
    fn target_prefix(&self) -> &'static str {
        ""
    }

    fn signing_name(&self) -> &'static str {
        berth_model::sts::SIGNING_NAME
    }

    fn max_body_bytes(&self) -> usize {
        64 * 1024
    }

    fn schema(&self) -> Option<&'static Schema> {
        Some(&berth_model::sts::SCHEMA)
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move { self.iam.call_sts(operation, body, &iam_caller(caller)).await.map_err(ApiError::from) })
    }
}

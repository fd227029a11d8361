//! Amazon EC2's networking subset (`ec2/2016-11-15`), served by `berth-vpc` on EC2's own query protocol: the
//! front door routes a form post whose credential scope names `ec2` here, the service parses the form and
//! answers EC2's XML; errors are EC2's `<Response><Errors><Error>` document ([`ApiError::into_ec2_response`]).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::AwsJsonService;
use berth_vpc::Vpc;
use futures::future::BoxFuture;
use std::sync::Arc;

/// EC2's signing name.
pub const SIGNING_NAME: &str = "ec2";

/// The EC2 API on a VPC.
pub struct Ec2Service {
    vpc: Arc<Vpc>,
}

impl Ec2Service {
    /// EC2 on this VPC.
    pub fn new(vpc: Arc<Vpc>) -> Self {
        Self { vpc }
    }
}

impl AwsJsonService for Ec2Service {
    fn target_prefix(&self) -> &'static str {
        // Query only.
        ""
    }

    fn signing_name(&self) -> &'static str {
        SIGNING_NAME
    }

    fn max_body_bytes(&self) -> usize {
        64 * 1024
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        self.call_with_request_id(operation, body, caller, "")
    }

    fn call_with_request_id<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        _caller: &'a Caller,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move {
            self.vpc.call(operation, body, request_id).await.map(String::into_bytes).map_err(ApiError::from)
        })
    }
}

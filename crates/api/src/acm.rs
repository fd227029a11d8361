//! AWS Certificate Manager (`acm/2015-12-08`, AWS JSON 1.1), served by `berth-acm`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::AwsJsonService;
use berth_acm::Acm;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The largest request: a certificate chain of up to 2 MiB, base64-encoded, with the certificate and key.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// The ACM API on a certificate store.
pub struct AcmService {
    acm: Arc<Acm>,
}

impl AcmService {
    /// ACM on this certificate store.
    pub fn new(acm: Arc<Acm>) -> Self {
        Self { acm }
    }
}

impl AwsJsonService for AcmService {
    fn target_prefix(&self) -> &'static str {
        berth_model::acm::TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        berth_model::acm::SIGNING_NAME
    }

    fn max_body_bytes(&self) -> usize {
        MAX_BODY
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        _caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        Box::pin(async move { self.acm.call(operation, body).await.map_err(ApiError::from) })
    }
}

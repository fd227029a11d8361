//! What the front door counts for `/metrics` (the `metrics` facade; the binary installs the Prometheus renderer):
//! - `berth_api_requests_total{api, operation, outcome}`: each authenticated call of an AWS API operation, by the
//!   API's signing name, the operation and `ok` or the error code;
//! - `berth_api_request_duration_seconds{api}`: how long the operation took (after authentication and the body).
//!
//! Label values are bounded: an operation the service does not know is counted as `unknown`, and error codes are
//! the services' own exception names, so a client cannot create series at will.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::AwsJsonService;
use berth_model::clock::Clock;

/// Error codes that mean the operation name was not one the service knows.
const UNKNOWN_OPERATION_CODES: [&str; 3] = ["UnknownOperationException", "InvalidAction", "UnsupportedOperation"];

/// Calls one operation of a service and counts it.
pub(crate) async fn call(
    clock: &dyn Clock,
    service: &dyn AwsJsonService,
    operation: &str,
    body: &[u8],
    caller: &Caller,
) -> Result<Vec<u8>, ApiError> {
    call_with_request_id(clock, service, operation, body, caller, "").await
}

/// [`call`], for a service whose response body carries the request id (EC2).
pub(crate) async fn call_with_request_id(
    clock: &dyn Clock,
    service: &dyn AwsJsonService,
    operation: &str,
    body: &[u8],
    caller: &Caller,
    request_id: &str,
) -> Result<Vec<u8>, ApiError> {
    let started = clock.monotonic();
    let result = service.call_with_request_id(operation, body, caller, request_id).await;
    let elapsed = clock.monotonic().saturating_duration_since(started);
    let api = service.signing_name();
    let (operation, outcome) = labels(operation, &result);
    metrics::counter!("berth_api_requests_total", "api" => api, "operation" => operation, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("berth_api_request_duration_seconds", "api" => api).record(elapsed.as_secs_f64());
    result
}

/// The `operation` and `outcome` labels of a call.
fn labels(operation: &str, result: &Result<Vec<u8>, ApiError>) -> (String, String) {
    match result {
        Ok(_) => (operation.to_string(), "ok".to_string()),
        Err(e) if UNKNOWN_OPERATION_CODES.contains(&e.code.as_str()) => ("unknown".to_string(), e.code.clone()),
        Err(e) => (operation.to_string(), e.code.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_operations_do_not_become_label_values() {
        let unknown = Err(ApiError::unknown_operation("Svc.Made_Up_By_A_Client"));
        assert_eq!(labels("Made_Up_By_A_Client", &unknown), ("unknown".into(), "UnknownOperationException".into()));
        assert_eq!(labels("RunTask", &Ok(Vec::new())), ("RunTask".into(), "ok".into()));
        let refused = Err(ApiError::bad_request("ClusterNotFoundException", "x"));
        assert_eq!(labels("RunTask", &refused), ("RunTask".into(), "ClusterNotFoundException".into()));
    }
}

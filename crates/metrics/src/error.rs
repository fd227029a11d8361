//! CloudWatch errors: the model's exception, the query protocol's error code, the message and the status.

/// An error as a CloudWatch client sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct MetricsError {
    /// The model's exception shape (`InvalidParameterValueException`): `__type` in JSON and CBOR.
    pub exception: &'static str,
    /// The query protocol's code (`InvalidParameterValue`): `<Code>` in XML and the `x-amzn-query-error` header.
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl MetricsError {
    fn new(exception: &'static str, code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self { exception, code, message: message.into(), status }
    }

    /// `InvalidParameterValue`: a value outside what the parameter allows.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValueException", "InvalidParameterValue", 400, message)
    }

    /// `MissingParameter`: a required parameter is absent.
    pub fn missing(message: impl Into<String>) -> Self {
        Self::new("MissingRequiredParameterException", "MissingParameter", 400, message)
    }

    /// `InvalidParameterCombination`: parameters that may not be given together (or one of which is needed).
    pub fn combination(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterCombinationException", "InvalidParameterCombination", 400, message)
    }

    /// `LimitExceeded`: too many alarms (or series).
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new("LimitExceededFault", "LimitExceeded", 400, message)
    }

    /// `ResourceNotFound` (404): an alarm that does not exist, for DeleteAlarms and SetAlarmState.
    pub fn alarm_not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFound", "ResourceNotFound", 404, message)
    }

    /// `ResourceNotFoundException` (404): a resource ARN of the tagging operations that names nothing.
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", "ResourceNotFoundException", 404, message)
    }

    /// `InvalidNextToken`: a paging token this server did not issue.
    pub fn next_token(message: impl Into<String>) -> Self {
        Self::new("InvalidNextToken", "InvalidNextToken", 400, message)
    }

    /// `InvalidFormat`: SetAlarmState's reason data is not JSON.
    pub fn format(message: impl Into<String>) -> Self {
        Self::new("InvalidFormatFault", "InvalidFormat", 400, message)
    }

    /// `InvalidAction`: an operation of the model Berth does not serve, named with what is missing.
    pub fn unsupported(operation: &str) -> Self {
        let why = match operation {
            "PutCompositeAlarm" => "composite alarms are not supported by Berth",
            "PutDashboard" | "GetDashboard" | "ListDashboards" | "DeleteDashboards" => {
                "dashboards are not supported by Berth"
            }
            "PutAnomalyDetector" | "DescribeAnomalyDetectors" | "DeleteAnomalyDetector" => {
                "anomaly detection is not supported by Berth"
            }
            _ => "this operation is not supported by Berth",
        };
        Self::new("InvalidAction", "InvalidAction", 400, format!("{operation}: {why}."))
    }

    /// An operation the model does not have.
    pub fn unknown_operation(operation: &str) -> Self {
        Self::new("InvalidAction", "InvalidAction", 400, format!("Could not find operation {operation}."))
    }

    /// `InternalServiceError` (500) for a server-side failure, logging the cause.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "metrics: internal error");
        Self::new(
            "InternalServiceFault",
            "InternalServiceError",
            500,
            "Berth hit an internal error; the server log has the cause.",
        )
    }

    /// `Sender` or `Receiver`: who is at fault, as the query protocol and `x-amzn-query-error` say.
    pub fn fault(&self) -> &'static str {
        if self.status >= 500 { "Receiver" } else { "Sender" }
    }
}

impl From<berth_store::StoreError> for MetricsError {
    fn from(e: berth_store::StoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<std::io::Error> for MetricsError {
    fn from(e: std::io::Error) -> Self {
        Self::internal(&e)
    }
}

//! Application Auto Scaling errors: the model's exception, the message and the HTTP status.

/// An error as an Application Auto Scaling client sees it (`__type` and `message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct ScalingError {
    /// The model's exception shape (`ValidationException`).
    pub exception: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl ScalingError {
    fn new(exception: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self { exception, message: message.into(), status }
    }

    /// `ValidationException`: a bad parameter, an unknown service, min > max, a bad schedule.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", 400, message)
    }

    /// `ObjectNotFoundException`: no such scalable target, policy or scheduled action.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ObjectNotFoundException", 400, message)
    }

    /// `LimitExceededException`: too many policies or scheduled actions on a target.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new("LimitExceededException", 400, message)
    }

    /// `InvalidNextTokenException`: a paging token this server did not issue.
    pub fn next_token() -> Self {
        Self::new("InvalidNextTokenException", 400, "The NextToken value is not valid.")
    }

    /// `ResourceNotFoundException`: a tagging operation's ARN names nothing.
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", 400, message)
    }

    /// An operation of the model Berth does not serve (`ValidationException`, saying so).
    pub fn unsupported(operation: &str) -> Self {
        Self::validation(format!("{operation} is not supported by Berth."))
    }

    /// An operation the model does not have.
    pub fn unknown_operation(operation: &str) -> Self {
        Self::new("UnknownOperationException", 400, format!("Unknown operation {operation}."))
    }

    /// `InternalServiceException` (500) for a server-side failure, logging the cause.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "autoscaling: internal error");
        Self::new("InternalServiceException", 500, "Berth hit an internal error; the server log has the cause.")
    }
}

impl From<berth_store::StoreError> for ScalingError {
    fn from(e: berth_store::StoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<serde_json::Error> for ScalingError {
    fn from(e: serde_json::Error) -> Self {
        Self::internal(&e)
    }
}

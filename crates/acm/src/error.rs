//! ACM errors: the model's exception name, AWS's message and the HTTP status (the API crate maps them to `__type`).

/// An error as an ACM client sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct AcmError {
    /// The model's exception (`ResourceNotFoundException`, `ValidationException` ...).
    pub exception: &'static str,
    /// The message (never key material).
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl AcmError {
    /// An error with this exception, status 400.
    pub fn new(exception: &'static str, message: impl Into<String>) -> Self {
        Self { exception, message: message.into(), status: 400 }
    }

    /// `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// `ResourceNotFoundException` for a certificate ARN.
    pub fn not_found(arn: &str) -> Self {
        Self::new("ResourceNotFoundException", format!("Could not find certificate {arn}."))
    }

    /// An operation of the model Berth does not serve.
    pub fn unsupported(operation: &str) -> Self {
        Self::validation(format!("{operation} is not supported by Berth's ACM."))
    }

    /// An operation the model does not have.
    pub fn unknown_operation(operation: &str) -> Self {
        Self::new("UnknownOperationException", format!("Unknown operation {operation}."))
    }

    /// A server-side failure (500); the cause is logged, never returned.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "acm: internal error");
        Self {
            exception: "InternalFailure",
            message: "Berth hit an internal error; the server log has the cause.".into(),
            status: 500,
        }
    }
}

impl From<berth_store::StoreError> for AcmError {
    fn from(e: berth_store::StoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<serde_json::Error> for AcmError {
    fn from(e: serde_json::Error) -> Self {
        Self::internal(&e)
    }
}

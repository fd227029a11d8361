//! IAM and STS errors: the query error code, the message and the HTTP status IAM answers with.

/// An error as an IAM or STS client sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct IamError {
    /// The query error code (`NoSuchEntity`, `MalformedPolicyDocument` ...).
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl IamError {
    /// An error with a code, a status and a message.
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self { code, status, message: message.into() }
    }

    /// `NoSuchEntity` (404).
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new("NoSuchEntity", 404, message)
    }

    /// `EntityAlreadyExists` (409).
    pub fn exists(message: impl Into<String>) -> Self {
        Self::new("EntityAlreadyExists", 409, message)
    }

    /// `DeleteConflict` (409).
    pub fn delete_conflict(message: impl Into<String>) -> Self {
        Self::new("DeleteConflict", 409, message)
    }

    /// `LimitExceeded` (409) for a named quota.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new("LimitExceeded", 409, message)
    }

    /// `MalformedPolicyDocument` (400).
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new("MalformedPolicyDocument", 400, message)
    }

    /// `ValidationError` (400).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", 400, message)
    }

    /// `InvalidInput` (400).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new("InvalidInput", 400, message)
    }

    /// `AccessDenied` (403), as STS answers a refused AssumeRole.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDenied", 403, message)
    }

    /// An operation of the model Berth does not serve.
    pub fn unsupported_operation(operation: &str) -> Self {
        Self::new("InvalidAction", 400, format!("{operation} is not supported by Berth."))
    }

    /// A server-side failure (500), logging the cause.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "iam: internal error");
        Self::new("ServiceFailure", 500, "Berth hit an internal error; the server log has the cause.")
    }
}

impl From<berth_store::StoreError> for IamError {
    fn from(e: berth_store::StoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<serde_json::Error> for IamError {
    fn from(e: serde_json::Error) -> Self {
        Self::internal(&e)
    }
}

impl From<crate::policy::PolicyError> for IamError {
    fn from(e: crate::policy::PolicyError) -> Self {
        Self::malformed(e.0)
    }
}

//! The errors of the three APIs: the model's exception name, AWS's message and the HTTP status, in one type (the
//! API crate maps it to `__type` and `message`), and the errors of opening the value store.

/// An error as a Secrets Manager, SSM or KMS client sees it (`__type` and `message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct SecretsError {
    /// The model's exception shape (`ResourceNotFoundException`, `ParameterNotFound`, `NotFoundException` ...).
    pub exception: &'static str,
    /// The message (never a secret value).
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl SecretsError {
    /// An error with this exception, status 400.
    pub fn new(exception: &'static str, message: impl Into<String>) -> Self {
        Self { exception, message: message.into(), status: 400 }
    }

    /// `ValidationException` (all three APIs have one).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// A member outside the model's constraint, in AWS's wording (sensitive values are not echoed).
    pub fn constraint(member: &str, constraint: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value at '{member}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// An operation of the model Berth does not serve.
    pub fn unsupported(service: &str, operation: &str) -> Self {
        let exception = if service == "kms" { "UnsupportedOperationException" } else { "ValidationException" };
        Self::new(exception, format!("{operation} is not supported by Berth's {service}."))
    }

    /// An operation the model does not have.
    pub fn unknown_operation(operation: &str) -> Self {
        Self::new("UnknownOperationException", format!("Unknown operation {operation}."))
    }

    /// A server-side failure (500); the cause is logged, never returned.
    pub fn internal(exception: &'static str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "secrets: internal error");
        Self {
            exception,
            message: "Berth hit an internal error; the server log has the cause.".to_string(),
            status: 500,
        }
    }
}

/// The store failed: a 500 with the generic internal exception of every API (`InternalServiceError` for Secrets
/// Manager; the service maps it per API).
impl From<berth_store::StoreError> for SecretsError {
    fn from(e: berth_store::StoreError) -> Self {
        Self::internal("InternalServiceError", &e)
    }
}

impl From<serde_json::Error> for SecretsError {
    fn from(e: serde_json::Error) -> Self {
        Self::internal("InternalServiceError", &e)
    }
}

/// Why the value store cannot open or rotate its master key.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The key file or variable does not hold base64 of 32 bytes.
    #[error("the master key in {source_name} is not base64 of 32 bytes")]
    Malformed {
        /// Where it came from (a path or `BERTH_MASTER_KEY`).
        source_name: String,
    },
    /// The key does not open the data dir's KMS keys: another data dir's key, or a rotation half done.
    #[error(
        "the master key from {source_name} does not match the one this data dir's keys are wrapped with (a key of another data dir, or the wrong file?)"
    )]
    Mismatch {
        /// Where it came from.
        source_name: String,
    },
    /// A key file could not be read or written.
    #[error("master key file {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        error: std::io::Error,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] berth_store::StoreError),
    /// A stored record is unreadable.
    #[error("record {key}: {error}")]
    Record {
        /// The key.
        key: String,
        /// The error.
        error: String,
    },
}

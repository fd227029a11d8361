//! Logs errors: the exception name and message AWS JSON puts in `__type` and `message`.

/// An error as a Logs client sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct LogsError {
    /// The exception name (`ResourceNotFoundException` ...).
    pub exception: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status (400 but for server faults).
    pub status: u16,
}

impl LogsError {
    fn new(exception: &'static str, message: impl Into<String>) -> Self {
        Self { exception, message: message.into(), status: 400 }
    }

    /// `InvalidParameterException`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    /// `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    /// `ResourceAlreadyExistsException`.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new("ResourceAlreadyExistsException", message)
    }

    /// `LimitExceededException`.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new("LimitExceededException", message)
    }

    /// `SerializationException`: the body is not the operation's JSON shape.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }

    /// `InvalidOperationException`: an operation of the model Berth does not serve.
    pub fn unsupported(operation: &str) -> Self {
        let why = match operation {
            "StartQuery"
            | "StopQuery"
            | "GetQueryResults"
            | "DescribeQueries"
            | "PutQueryDefinition"
            | "DescribeQueryDefinitions"
            | "DeleteQueryDefinition"
            | "GetLogGroupFields"
            | "ListLogGroupsForQuery" => "Logs Insights is not supported by Berth",
            "StartLiveTail" => {
                "live tail is not supported by Berth; `aws logs tail --follow` polls FilterLogEvents, which is"
            }
            _ => "this operation is not supported by Berth",
        };
        Self::new("InvalidOperationException", format!("{operation}: {why}."))
    }

    /// `ServiceUnavailableException` (500) for a server-side failure, logging the cause.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "logs: internal error");
        Self {
            exception: "ServiceUnavailableException",
            message: "Berth hit an internal error; the server log has the cause.".into(),
            status: 500,
        }
    }
}

impl From<crate::events::EventStoreError> for LogsError {
    fn from(e: crate::events::EventStoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<berth_store::StoreError> for LogsError {
    fn from(e: berth_store::StoreError) -> Self {
        Self::internal(&e)
    }
}

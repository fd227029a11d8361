//! ELBv2 errors: the model's error code (the query protocol's `<Code>`), the message and the HTTP status.

/// An error as an ELBv2 client sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ElbError {
    /// The query error code (`LoadBalancerNotFound`, `ValidationError` ...).
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl ElbError {
    /// An error with a code and a message, status 400.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), status: 400 }
    }

    /// `ValidationError`: a request the model or ELBv2's rules do not allow.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", message)
    }

    /// `ValidationError` with the model's wording for a value out of range.
    pub fn range(member: &str, value: impl std::fmt::Display, constraint: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// `OperationNotPermitted`: a setting or operation AWS has and Berth does not serve (said so by name), or an
    /// action the resource's state forbids (deletion protection, the default rule).
    pub fn not_permitted(message: impl Into<String>) -> Self {
        Self::new("OperationNotPermitted", message)
    }

    /// An operation of the model Berth does not serve.
    pub fn unsupported_operation(operation: &str) -> Self {
        Self::not_permitted(format!("{operation} is not supported by Berth."))
    }

    /// `LoadBalancerNotFound`.
    pub fn lb_not_found() -> Self {
        Self::new("LoadBalancerNotFound", "One or more load balancers not found")
    }

    /// `TargetGroupNotFound`.
    pub fn tg_not_found() -> Self {
        Self::new("TargetGroupNotFound", "One or more target groups not found")
    }

    /// `ListenerNotFound`.
    pub fn listener_not_found() -> Self {
        Self::new("ListenerNotFound", "One or more listeners not found")
    }

    /// `RuleNotFound`.
    pub fn rule_not_found() -> Self {
        Self::new("RuleNotFound", "One or more rules not found")
    }

    /// `InvalidConfigurationRequest`: the request conflicts with the resources' configuration.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new("InvalidConfigurationRequest", message)
    }

    /// An operation the model does not have (the front door answers `InvalidAction` before this).
    pub fn unknown_operation(operation: &str) -> Self {
        Self::new("InvalidAction", format!("Could not find operation {operation} for version 2015-12-01."))
    }

    /// A server-side failure (500), logging the cause.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "elbv2: internal error");
        Self {
            code: "InternalFailure",
            message: "Berth hit an internal error; the server log has the cause.".into(),
            status: 500,
        }
    }
}

impl From<berth_store::StoreError> for ElbError {
    fn from(e: berth_store::StoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<serde_json::Error> for ElbError {
    fn from(e: serde_json::Error) -> Self {
        Self::internal(&e)
    }
}

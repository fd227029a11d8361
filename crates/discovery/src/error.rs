//! Cloud Map errors: the model's exception, the message and the HTTP status, made in one place.

/// An error as a Cloud Map client sees it (`__type` and `Message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct DiscoveryError {
    /// The model's exception shape (`NamespaceNotFound`).
    pub exception: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl DiscoveryError {
    fn new(exception: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self { exception, message: message.into(), status }
    }

    /// `InvalidInput`: a value the model or Cloud Map's rules refuse, or a setting Berth does not serve.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidInput", 400, message)
    }

    /// `NamespaceNotFound`.
    pub fn namespace_not_found(id: &str) -> Self {
        Self::new("NamespaceNotFound", 400, format!("Namespace not found: {id}"))
    }

    /// `ServiceNotFound`.
    pub fn service_not_found(id: &str) -> Self {
        Self::new("ServiceNotFound", 400, format!("Service not found: {id}"))
    }

    /// `InstanceNotFound`.
    pub fn instance_not_found(id: &str) -> Self {
        Self::new("InstanceNotFound", 400, format!("Instance not found: {id}"))
    }

    /// `OperationNotFound`.
    pub fn operation_not_found(id: &str) -> Self {
        Self::new("OperationNotFound", 400, format!("Operation not found: {id}"))
    }

    /// `NamespaceAlreadyExists`.
    pub fn namespace_exists(name: &str, id: &str) -> Self {
        Self::new("NamespaceAlreadyExists", 400, format!("Namespace with name {name} already exists: {id}"))
    }

    /// `ServiceAlreadyExists`.
    pub fn service_exists(name: &str, id: &str) -> Self {
        Self::new("ServiceAlreadyExists", 400, format!("Service with name {name} already exists: {id}"))
    }

    /// `ResourceInUse`: a namespace with services, a service with instances.
    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new("ResourceInUse", 400, message)
    }

    /// `CustomHealthNotFound`: UpdateInstanceCustomHealthStatus on a service without HealthCheckCustomConfig.
    pub fn custom_health_not_found(service: &str) -> Self {
        Self::new(
            "CustomHealthNotFound",
            400,
            format!("Service {service} does not have a custom health check configuration (HealthCheckCustomConfig)"),
        )
    }

    /// `ResourceNotFoundException`: a tagging operation's ARN names nothing.
    pub fn resource_not_found(arn: &str) -> Self {
        Self::new("ResourceNotFoundException", 400, format!("Resource not found: {arn}"))
    }

    /// `TooManyTagsException`.
    pub fn too_many_tags(arn: &str) -> Self {
        Self::new("TooManyTagsException", 400, format!("A resource can have at most 50 tags: {arn}"))
    }

    /// `ResourceLimitExceeded`.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new("ResourceLimitExceeded", 400, message)
    }

    /// An operation of the model Berth does not serve (`InvalidInput`, saying so).
    pub fn unsupported(operation: &str) -> Self {
        Self::invalid(format!("{operation} is not supported by Berth."))
    }

    /// An operation the model does not have.
    pub fn unknown_operation(operation: &str) -> Self {
        Self::new("UnknownOperationException", 400, format!("Unknown operation {operation}."))
    }

    /// `InternalServiceException`-like 500 for a server-side failure, logging the cause.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "servicediscovery: internal error");
        Self::new("InternalFailure", 500, "Berth hit an internal error; the server log has the cause.")
    }
}

impl From<berth_store::StoreError> for DiscoveryError {
    fn from(e: berth_store::StoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<serde_json::Error> for DiscoveryError {
    fn from(e: serde_json::Error) -> Self {
        Self::internal(&e)
    }
}

//! The control plane's errors: each names the ECS exception a client sees.

use berth_store::StoreError;

/// The ECS exceptions the control plane raises (the names are the model's error shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcsException {
    /// A request the caller got wrong in a way ECS calls a client error.
    ClientException,
    /// A parameter is invalid.
    InvalidParameterException,
    /// The cluster does not exist.
    ClusterNotFoundException,
    /// DeleteCluster on a cluster with tasks.
    ClusterContainsTasksException,
    /// DeleteCluster on a cluster with container instances.
    ClusterContainsContainerInstancesException,
    /// DeleteCluster on a cluster with services.
    ClusterContainsServicesException,
    /// A named resource does not exist.
    ResourceNotFoundException,
    /// A resource is in use.
    ResourceInUseException,
    /// A `clientToken` was reused with different parameters.
    ConflictException,
    /// A limit was reached.
    LimitExceededException,
    /// The caller may not do this.
    AccessDeniedException,
    /// Berth does not support this (yet); the message says what.
    UnsupportedFeatureException,
    /// Attribute limit reached.
    AttributeLimitExceededException,
    /// An attribute's target does not exist.
    TargetNotFoundException,
    /// The service does not exist.
    ServiceNotFoundException,
    /// The service is not ACTIVE.
    ServiceNotActiveException,
    /// The service deployment does not exist.
    ServiceDeploymentNotFoundException,
    /// The task set does not exist (in that service).
    TaskSetNotFoundException,
    /// UpdateContainerAgent: the agent already runs the server's version.
    NoUpdateAvailableException,
    /// UpdateContainerAgent: the agent did not report its version.
    MissingVersionException,
    /// UpdateContainerAgent: an update of this agent is already under way.
    UpdateInProgressException,
    /// Berth failed; not the caller's fault.
    ServerException,
    /// `NamespaceNotFoundException`: no Cloud Map namespace by that name or ARN.
    NamespaceNotFoundException,
    /// `PlatformUnknownException`: the Fargate platform version does not exist.
    PlatformUnknownException,
    /// `DaemonNotFoundException`: no daemon by that ARN.
    DaemonNotFoundException,
    /// `DaemonNotActiveException`: the daemon is being deleted.
    DaemonNotActiveException,
}

impl EcsException {
    /// The exception's name, as `__type` carries it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientException => "ClientException",
            Self::InvalidParameterException => "InvalidParameterException",
            Self::ClusterNotFoundException => "ClusterNotFoundException",
            Self::ClusterContainsTasksException => "ClusterContainsTasksException",
            Self::ClusterContainsContainerInstancesException => "ClusterContainsContainerInstancesException",
            Self::ClusterContainsServicesException => "ClusterContainsServicesException",
            Self::ResourceNotFoundException => "ResourceNotFoundException",
            Self::ResourceInUseException => "ResourceInUseException",
            Self::ConflictException => "ConflictException",
            Self::LimitExceededException => "LimitExceededException",
            Self::AccessDeniedException => "AccessDeniedException",
            Self::UnsupportedFeatureException => "UnsupportedFeatureException",
            Self::AttributeLimitExceededException => "AttributeLimitExceededException",
            Self::TargetNotFoundException => "TargetNotFoundException",
            Self::ServiceNotFoundException => "ServiceNotFoundException",
            Self::ServiceNotActiveException => "ServiceNotActiveException",
            Self::ServiceDeploymentNotFoundException => "ServiceDeploymentNotFoundException",
            Self::TaskSetNotFoundException => "TaskSetNotFoundException",
            Self::NoUpdateAvailableException => "NoUpdateAvailableException",
            Self::MissingVersionException => "MissingVersionException",
            Self::UpdateInProgressException => "UpdateInProgressException",
            Self::ServerException => "ServerException",
            Self::NamespaceNotFoundException => "NamespaceNotFoundException",
            Self::PlatformUnknownException => "PlatformUnknownException",
            Self::DaemonNotFoundException => "DaemonNotFoundException",
            Self::DaemonNotActiveException => "DaemonNotActiveException",
        }
    }
}

/// A failed control-plane operation.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A failure the caller sees as an ECS exception.
    #[error("{exception:?}: {message}")]
    Ecs {
        /// The exception.
        exception: EcsException,
        /// The message for the caller.
        message: String,
        /// Resource ids, for `ConflictException`.
        resource_ids: Vec<String>,
    },
    /// The store failed.
    #[error("store failure while {context}: {source}")]
    Store {
        /// What the control plane was doing.
        context: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// A stored record could not be decoded (a bug or corruption).
    #[error("stored record {key} is unreadable: {source}")]
    Corrupt {
        /// The key.
        key: String,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// Optimistic concurrency kept losing; the caller may retry.
    #[error("too much contention while {context}; retry")]
    Contention {
        /// What the control plane was doing.
        context: String,
    },
}

impl ControlError {
    /// An ECS exception with a message.
    pub fn ecs(exception: EcsException, message: impl Into<String>) -> Self {
        Self::Ecs { exception, message: message.into(), resource_ids: Vec::new() }
    }

    /// `ClientException`.
    pub fn client(message: impl Into<String>) -> Self {
        Self::ecs(EcsException::ClientException, message)
    }

    /// `InvalidParameterException`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::ecs(EcsException::InvalidParameterException, message)
    }

    /// `ClusterNotFoundException` with ECS's message.
    pub fn cluster_not_found() -> Self {
        Self::ecs(EcsException::ClusterNotFoundException, "Cluster not found.")
    }

    /// Wraps a store error with what was being done.
    pub fn store(context: impl Into<String>) -> impl FnOnce(StoreError) -> Self {
        let context = context.into();
        move |source| Self::Store { context, source }
    }

    /// The ECS exception a client sees for this error.
    pub fn exception(&self) -> EcsException {
        match self {
            Self::Ecs { exception, .. } => *exception,
            Self::Store { .. } | Self::Corrupt { .. } => EcsException::ServerException,
            Self::Contention { .. } => EcsException::ServerException,
        }
    }
}

/// The control plane's result type.
pub type Result<T, E = ControlError> = std::result::Result<T, E>;

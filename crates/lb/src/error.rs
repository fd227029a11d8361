//! The crate's one error type and its mapping to ELBv2's error shape.

use std::net::SocketAddr;

/// Why [`Proxy::apply`](crate::Proxy::apply) refused a configuration.
#[derive(Debug, thiserror::Error)]
pub enum LbError {
    /// The configuration breaks one of ELBv2's rules (a range, a duplicate, a dangling reference).
    #[error("{0}")]
    Invalid(String),
    /// A setting this data plane does not support (it is refused, never ignored).
    #[error("{0}")]
    Unsupported(String),
    /// An HTTPS listener's certificate or key could not be used.
    #[error("listener {listener}: {message}")]
    Certificate {
        /// The listener's id.
        listener: String,
        /// What was wrong.
        message: String,
    },
    /// A listener's address could not be bound (in use, or not an address of this host).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl LbError {
    /// ELBv2's error code for this error (the `Code` of its XML error), all of them client errors (400).
    pub fn aws_code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "ValidationError",
            Self::Unsupported(_) => "UnsupportedProtocol",
            Self::Certificate { .. } => "InvalidConfigurationRequest",
            Self::Bind { .. } => "InvalidConfigurationRequest",
        }
    }

    /// The HTTP status of the AWS error: 400 for all of them.
    pub fn status(&self) -> u16 {
        400
    }
}

/// A shorthand for [`LbError::Invalid`] with a formatted message.
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::error::LbError::Invalid(format!($($arg)*)) };
}
pub(crate) use invalid;

//! The one error type: a compose file Berth cannot deploy, with the key it is about.

/// Why a compose file cannot be deployed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The file (or an `env_file`) could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML does not parse.
    #[error("{path} is not valid YAML: {source}")]
    Yaml {
        /// The file.
        path: String,
        /// The parser's error.
        source: serde_yaml_ng::Error,
    },
    /// A key has a value Berth cannot read or honour.
    #[error("{key}: {message}")]
    Invalid {
        /// The key's path, such as `services.web.ports[0]`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ComposeError {
    /// An invalid value at `key`.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ComposeError::Invalid { key: key.into(), message: message.into() }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, ComposeError>;

/// The warning for a key Berth ignores.
pub(crate) fn unsupported(key: &str, why: &str) -> String {
    if why.is_empty() {
        format!("{key} is not supported by Berth and is ignored")
    } else {
        format!("{key} is not supported by Berth and is ignored ({why})")
    }
}

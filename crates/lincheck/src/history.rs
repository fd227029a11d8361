//! A history: the operations clients called, each with its call time, its return (time and output) if it returned,
//! its input and its output. Saved and loaded as JSON so a failing run's history can be checked again later.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation<I, O> {
    /// Its identity in the recorded history (the recorder numbers operations in the order they began); a
    /// partition's projections of one operation keep its id, so a report can name the call that was made.
    pub id: u64,
    /// The client (thread, task, connection) that made the call; a client has at most one call open at a time.
    pub client: u64,
    /// When the call was made: before the request was sent.
    pub call: u64,
    /// What was asked.
    pub input: I,
    /// How it returned, or `None` if its outcome is unknown (a timeout, a cut connection, a 5xx): such an operation
    /// may have taken effect at any moment after its call, or never.
    pub returned: Option<Return<O>>,
}

/// The return of an operation whose outcome is known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return<O> {
    /// When the answer arrived: after the response was read. Not before [`Operation::call`].
    pub at: u64,
    /// What was answered.
    pub output: O,
}

impl<I, O> Operation<I, O> {
    /// An operation that returned `output` at `ret`.
    pub fn completed(id: u64, client: u64, call: u64, ret: u64, input: I, output: O) -> Self {
        Self { id, client, call, input, returned: Some(Return { at: ret, output }) }
    }

    /// An operation whose outcome is unknown.
    pub fn pending(id: u64, client: u64, call: u64, input: I) -> Self {
        Self { id, client, call, input, returned: None }
    }

    /// Its output, if it returned.
    pub fn output(&self) -> Option<&O> {
        self.returned.as_ref().map(|r| &r.output)
    }

    /// Whether its outcome is unknown.
    pub fn is_pending(&self) -> bool {
        self.returned.is_none()
    }

    /// The same operation with another input and output (a partition's projection of it onto one key).
    pub fn project<J, P>(&self, input: J, output: Option<P>) -> Operation<J, P> {
        let returned = match (&self.returned, output) {
            (Some(r), Some(output)) => Some(Return { at: r.at, output }),
            _ => None,
        };
        Operation { id: self.id, client: self.client, call: self.call, input, returned }
    }
}

impl<I: fmt::Debug, O: fmt::Debug> fmt::Display for Operation<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.returned {
            Some(r) => write!(
                f,
                "op {} (client {}, called at {}, returned at {}): {:?} -> {:?}",
                self.id, self.client, self.call, r.at, self.input, r.output
            ),
            None => write!(
                f,
                "op {} (client {}, called at {}, never returned): {:?} -> unknown",
                self.id, self.client, self.call, self.input
            ),
        }
    }
}

/// The operations of a run, in any order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct History<I, O> {
    /// Every operation that may have taken effect (calls that certainly failed are left out).
    pub ops: Vec<Operation<I, O>>,
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        Self { ops: Vec::new() }
    }
}

/// Why a history cannot be checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidHistory {
    /// An operation returned before it was called.
    ReturnBeforeCall {
        /// The operation's id.
        id: u64,
    },
    /// Two operations share an id.
    DuplicateId {
        /// The repeated id.
        id: u64,
    },
}

impl fmt::Display for InvalidHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReturnBeforeCall { id } => write!(f, "operation {id} returned before it was called"),
            Self::DuplicateId { id } => write!(f, "two operations have the id {id}"),
        }
    }
}

impl std::error::Error for InvalidHistory {}

/// Why a history could not be saved or loaded.
#[derive(Debug)]
pub enum HistoryFileError {
    /// Reading or writing the file failed.
    Io(std::path::PathBuf, std::io::Error),
    /// The file is not a history.
    Json(std::path::PathBuf, serde_json::Error),
}

impl fmt::Display for HistoryFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(path, e) => write!(f, "history file {}: {e}", path.display()),
            Self::Json(path, e) => write!(f, "history file {}: not a history: {e}", path.display()),
        }
    }
}

impl std::error::Error for HistoryFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(_, e) => Some(e),
            Self::Json(_, e) => Some(e),
        }
    }
}

impl<I, O> History<I, O> {
    /// A history of these operations.
    pub fn new(ops: Vec<Operation<I, O>>) -> Self {
        Self { ops }
    }

    /// Checks that every operation returned no earlier than it was called and that ids are unique.
    pub fn validate(&self) -> Result<(), InvalidHistory> {
        let mut ids = std::collections::HashSet::with_capacity(self.ops.len());
        for op in &self.ops {
            if op.returned.as_ref().is_some_and(|r| r.at < op.call) {
                return Err(InvalidHistory::ReturnBeforeCall { id: op.id });
            }
            if !ids.insert(op.id) {
                return Err(InvalidHistory::DuplicateId { id: op.id });
            }
        }
        Ok(())
    }
}

impl<I: Serialize, O: Serialize> History<I, O> {
    /// The history as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Writes the history to `path` as JSON (for a failing run to keep for later).
    pub fn save(&self, path: &Path) -> Result<(), HistoryFileError> {
        let json = self.to_json().map_err(|e| HistoryFileError::Json(path.to_path_buf(), e))?;
        std::fs::write(path, json).map_err(|e| HistoryFileError::Io(path.to_path_buf(), e))
    }
}

impl<I: for<'de> Deserialize<'de>, O: for<'de> Deserialize<'de>> History<I, O> {
    /// A history from JSON written by [`History::to_json`].
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Reads a history that [`History::save`] wrote.
    pub fn load(path: &Path) -> Result<Self, HistoryFileError> {
        let json = std::fs::read_to_string(path).map_err(|e| HistoryFileError::Io(path.to_path_buf(), e))?;
        Self::from_json(&json).map_err(|e| HistoryFileError::Json(path.to_path_buf(), e))
    }
}

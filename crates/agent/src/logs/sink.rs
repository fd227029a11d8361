//! Where shipped events go: the CloudWatch Logs API of the Berth server the agent is joined to (through
//! [`LogSink`], so the shipper is tested against a fake), and the calls the awslogs driver makes on it.

use super::batch::Batch;
use futures::future::BoxFuture;
use serde_json::json;

/// Why a call to the log store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The store could not be reached or failed: the call may be tried again.
    #[error("cannot reach Berth's log store: {0}")]
    Unavailable(String),
    /// The store refused the call with a CloudWatch Logs exception.
    #[error("{code}: {message}")]
    Refused {
        /// The exception, e.g. `ResourceNotFoundException`.
        code: String,
        /// Its message.
        message: String,
    },
}

impl SinkError {
    /// Whether the store refused the call with this exception.
    pub fn is(&self, code: &str) -> bool {
        matches!(self, SinkError::Refused { code: c, .. } if c == code)
    }
}

/// A CloudWatch Logs API.
pub trait LogSink: Send + Sync + 'static {
    /// Calls `operation` with its JSON request; its JSON response.
    fn call(
        &self,
        operation: &'static str,
        request: serde_json::Value,
    ) -> BoxFuture<'_, Result<serde_json::Value, SinkError>>;
}

/// Makes sure `stream` exists in `group`, creating the group first when it is missing and `create_group` is set
/// (as Docker's driver does: create the stream, and on ResourceNotFound create the group and try again).
pub async fn ensure_stream(sink: &dyn LogSink, group: &str, stream: &str, create_group: bool) -> Result<(), SinkError> {
    match create_stream(sink, group, stream).await {
        Err(error) if create_group && error.is("ResourceNotFoundException") => {
            match sink.call("CreateLogGroup", json!({ "logGroupName": group })).await {
                Ok(_) => {}
                Err(e) if e.is("ResourceAlreadyExistsException") => {}
                Err(e) => return Err(e),
            }
            create_stream(sink, group, stream).await
        }
        other => other,
    }
}

async fn create_stream(sink: &dyn LogSink, group: &str, stream: &str) -> Result<(), SinkError> {
    match sink.call("CreateLogStream", json!({ "logGroupName": group, "logStreamName": stream })).await {
        Ok(_) => Ok(()),
        Err(e) if e.is("ResourceAlreadyExistsException") => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sends one batch with PutLogEvents; `batch_id` (Berth's `berthBatchId`) makes a retry of the same batch store
/// nothing twice. Events the store rejects as too old or too new are reported in the log and count as delivered,
/// as on CloudWatch Logs.
pub async fn put(
    sink: &dyn LogSink,
    group: &str,
    stream: &str,
    batch_id: &str,
    batch: &Batch,
) -> Result<(), SinkError> {
    let events: Vec<serde_json::Value> =
        batch.events.iter().map(|e| json!({ "timestamp": e.timestamp_ms, "message": e.message })).collect();
    let request = json!({
        "logGroupName": group,
        "logStreamName": stream,
        "logEvents": events,
        "berthBatchId": batch_id,
    });
    let response = sink.call("PutLogEvents", request).await?;
    if let Some(rejected) = response.get("rejectedLogEventsInfo") {
        tracing::warn!(group, stream, %rejected, "the log store rejected some events (too old, too new or expired)");
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod fake {
    //! An in-memory log store for the shipper's tests.

    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Groups and streams, the events put (deduplicated by batch id) and a switch that makes it unreachable.
    #[derive(Default)]
    pub struct FakeSink {
        /// Groups, each with its streams' messages.
        pub groups: Mutex<BTreeMap<String, BTreeMap<String, Vec<String>>>>,
        /// Batch ids stored.
        pub batch_ids: Mutex<Vec<String>>,
        /// While set, every call fails as unreachable.
        pub down: std::sync::atomic::AtomicBool,
        /// Calls made, by operation.
        pub calls: Mutex<Vec<&'static str>>,
    }

    impl FakeSink {
        /// The messages of a stream.
        pub fn messages(&self, group: &str, stream: &str) -> Vec<String> {
            let groups = self.groups.lock().unwrap();
            groups.get(group).and_then(|g| g.get(stream)).cloned().unwrap_or_default()
        }
    }

    fn refused(code: &str) -> SinkError {
        SinkError::Refused { code: code.into(), message: String::new() }
    }

    impl LogSink for FakeSink {
        fn call(
            &self,
            operation: &'static str,
            request: serde_json::Value,
        ) -> BoxFuture<'_, Result<serde_json::Value, SinkError>> {
            Box::pin(async move {
                self.calls.lock().unwrap().push(operation);
                if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(SinkError::Unavailable("down".into()));
                }
                let group = request["logGroupName"].as_str().unwrap_or_default().to_string();
                let stream = request["logStreamName"].as_str().unwrap_or_default().to_string();
                let mut groups = self.groups.lock().unwrap();
                match operation {
                    "CreateLogGroup" if groups.contains_key(&group) => Err(refused("ResourceAlreadyExistsException")),
                    "CreateLogGroup" => {
                        groups.insert(group, BTreeMap::new());
                        Ok(json!({}))
                    }
                    "CreateLogStream" => match groups.get_mut(&group) {
                        None => Err(refused("ResourceNotFoundException")),
                        Some(g) if g.contains_key(&stream) => Err(refused("ResourceAlreadyExistsException")),
                        Some(g) => {
                            g.insert(stream, Vec::new());
                            Ok(json!({}))
                        }
                    },
                    "PutLogEvents" => {
                        let Some(messages) = groups.get_mut(&group).and_then(|g| g.get_mut(&stream)) else {
                            return Err(refused("ResourceNotFoundException"));
                        };
                        let id = request["berthBatchId"].as_str().unwrap_or_default().to_string();
                        let mut ids = self.batch_ids.lock().unwrap();
                        if !ids.contains(&id) {
                            ids.push(id);
                            for event in request["logEvents"].as_array().into_iter().flatten() {
                                messages.push(event["message"].as_str().unwrap_or_default().to_string());
                            }
                        }
                        Ok(json!({}))
                    }
                    other => Err(refused(&format!("Unexpected{other}"))),
                }
            })
        }
    }
}

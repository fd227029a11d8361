//! The API history of the fault test: `berth-lincheck`'s recorder over its ECS call and reply types, stamped with
//! nanoseconds since the test began (monotonic), and the SDK's errors sorted for it.
//!
//! One recorded operation is one request (the SDK's retries are off). A 4xx answer certainly did not apply (it is
//! dropped); a timeout, a cut connection or a 5xx may have applied at any time after the call (it stays pending).

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
pub use berth_lincheck::ecs::{Call, DesiredStatus, LastStatus, Reply, ServiceRead, TaskRead, TaskStatus};
use berth_lincheck::{OpToken, Recorder};
use std::time::Instant;

/// The recorder the clients share.
pub type History = Recorder<Call, Reply>;

/// A recorder whose clock is nanoseconds since now.
pub fn new_history() -> History {
    let start = Instant::now();
    Recorder::new(move || u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX))
}

/// A begun operation.
pub type Token = OpToken;

/// (operations kept, returned, pending).
pub fn counts(history: &History) -> (usize, usize, usize) {
    let ops = history.history().ops;
    let pending = ops.iter().filter(|o| o.is_pending()).count();
    (ops.len(), ops.len() - pending, pending)
}

/// A task's statuses as DescribeTasks answered them (`None` for a status lincheck does not model).
pub fn task_status(desired: &str, last: &str) -> Option<TaskStatus> {
    Some(TaskStatus { desired: DesiredStatus::parse(desired)?, last: LastStatus::parse(last)? })
}

/// An SDK call's result: the value, or the HTTP status of its error (`None`: no answer) and a description.
pub fn split<T, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, SdkError<E, aws_sdk_ecs::config::http::HttpResponse>>,
) -> Result<T, (Option<u16>, String)> {
    result.map_err(|e| match &e {
        SdkError::ServiceError(s) => (
            Some(s.raw().status().as_u16()),
            format!("{}: {}", s.err().code().unwrap_or("?"), s.err().message().unwrap_or_default()),
        ),
        SdkError::ResponseError(r) => (Some(r.raw().status().as_u16()), format!("{e:?}")),
        _ => (None, format!("{e:?}")),
    })
}

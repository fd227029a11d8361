//! The API history of the fault test, recorded through a thin adapter shaped like `berth-lincheck`'s recorder
//! (`begin`, `end`, `end_error`) and ECS call and reply types, so that moving to that crate when it lands on main is
//! this file alone: its types replace [`Call`] and [`Reply`], its `Recorder` the [`History`] below, and its
//! `ecs::check` runs on the result. Until then the history is saved as JSON ([`History::save`]).
//!
//! One recorded operation is one request (the SDK's retries are off). A 4xx answer certainly did not apply (it is
//! dropped); a timeout, a cut connection or a 5xx may have applied at any time after the call (it stays pending).

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;
use std::sync::Mutex;
use std::time::Instant;

/// A call to the ECS API (the subset the test makes).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Call {
    /// UpdateService.
    UpdateService {
        /// The cluster.
        cluster: String,
        /// The service's name.
        service: String,
        /// desiredCount.
        desired_count: Option<u32>,
    },
    /// DescribeServices.
    DescribeServices {
        /// The cluster.
        cluster: String,
        /// The services asked about.
        services: Vec<String>,
    },
    /// RunTask.
    RunTask {
        /// The cluster.
        cluster: String,
    },
    /// StopTask.
    StopTask {
        /// The cluster.
        cluster: String,
        /// The task's ARN.
        task: String,
    },
    /// DescribeTasks.
    DescribeTasks {
        /// The cluster.
        cluster: String,
        /// The task ARNs asked about.
        tasks: Vec<String>,
    },
}

/// What a call answered.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Reply {
    /// UpdateService or StopTask succeeded.
    Done,
    /// DescribeServices: each service asked about (`None`: MISSING).
    Services(Vec<ServiceRead>),
    /// RunTask: the ARNs of the tasks it started.
    Started(Vec<String>),
    /// DescribeTasks: each task asked about (`None`: MISSING).
    Tasks(Vec<TaskRead>),
}

/// One service of a DescribeServices answer.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRead {
    /// The service.
    pub service: String,
    /// Its desiredCount (`None`: MISSING).
    pub desired_count: Option<u32>,
}

/// One task of a DescribeTasks answer.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRead {
    /// The task's ARN.
    pub task: String,
    /// Its desired and last status (`None`: MISSING).
    pub status: Option<TaskStatus>,
}

/// A task's statuses, as ECS's texts (`RUNNING`, `STOPPED` ...).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// desiredStatus.
    pub desired: String,
    /// lastStatus.
    pub last: String,
}

/// One recorded operation.
#[derive(Clone, Debug, Serialize)]
pub struct Operation {
    /// Its id (the order of calls).
    pub id: u64,
    /// The client that made it.
    pub client: u64,
    /// When it was sent, nanoseconds since the test began (monotonic).
    pub call: u64,
    /// The call.
    pub input: Call,
    /// When it returned and what (`None`: pending, it may have applied at any time after its call).
    pub returned: Option<Returned>,
}

/// The return of an operation.
#[derive(Clone, Debug, Serialize)]
pub struct Returned {
    /// When, nanoseconds since the test began.
    pub at: u64,
    /// The reply.
    pub output: Reply,
}

/// A begun operation.
#[must_use = "end it, or it stays pending"]
pub struct Token(usize);

/// A history recorder shared by the clients.
pub struct History {
    start: Instant,
    /// The operations (`None`: dropped, it certainly did not apply).
    ops: Mutex<Vec<Option<Operation>>>,
}

impl History {
    /// An empty history whose clock starts now.
    pub fn new() -> Self {
        Self { start: Instant::now(), ops: Mutex::new(Vec::new()) }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn ops(&self) -> std::sync::MutexGuard<'_, Vec<Option<Operation>>> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `client` is about to send `input`.
    pub fn begin(&self, client: u64, input: Call) -> Token {
        let mut ops = self.ops();
        let call = self.now();
        let id = ops.len();
        ops.push(Some(Operation { id: id as u64, client, call, input, returned: None }));
        Token(id)
    }

    /// Records the reply.
    pub fn end(&self, token: Token, output: Reply) {
        let at = self.now();
        if let Some(Some(op)) = self.ops().get_mut(token.0) {
            op.returned = Some(Returned { at, output });
        }
    }

    /// Records an error: a 4xx certainly did not apply (dropped); a 5xx or no answer (`None`) stays pending.
    pub fn end_error(&self, token: Token, http_status: Option<u16>) {
        if let Some(400..=499) = http_status
            && let Some(slot) = self.ops().get_mut(token.0)
        {
            *slot = None;
        }
    }

    /// (operations kept, returned, pending, dropped).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let ops = self.ops();
        let kept: Vec<&Operation> = ops.iter().flatten().collect();
        let returned = kept.iter().filter(|o| o.returned.is_some()).count();
        (kept.len(), returned, kept.len() - returned, ops.len() - kept.len())
    }

    /// Writes the kept operations as a JSON array to `path`.
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let ops: Vec<Operation> = self.ops().iter().flatten().cloned().collect();
        let text = serde_json::to_vec_pretty(&ops).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }
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

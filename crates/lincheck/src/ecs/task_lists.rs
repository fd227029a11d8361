//! ListTasks against RunTask and StopTask, one sub-history per cluster (a list reads every task of a cluster at
//! once, so the cluster is the key).
//!
//! The state is each known task's desiredStatus. A task is listed under RUNNING from its RunTask until it is
//! stopped, then under STOPPED (ECS and Berth keep stopped tasks listed for an hour, longer than a test), never
//! under RUNNING again. So a RUNNING list must hold every running task and no stopped or not-yet-created one; a
//! STOPPED list every stopped task and no running or not-yet-created one. In [`TaskLists`] something outside the
//! history may stop a task at any moment, so a running task missing from a RUNNING list (or found in a STOPPED one)
//! is read as stopped from then on; [`StrictTaskLists`] calls that an anomaly unless a StopTask of it took effect.
//! Tasks whose RunTask is not in the history (a service's tasks, a RunTask that never answered) may appear in a
//! list at any moment, and are held to the same rules once listed.
//!
//! Assumes each ListTasks call was one page with no filter but desiredStatus (keep a cluster under 100 tasks, the
//! page limit). Clusters without a ListTasks in the history are not checked here (the per-task model covers them),
//! and neither RunTask calls that never answered (their ARNs are unknown) nor lists that never answered are kept.

use super::{Call, DesiredStatus, Reply};
use crate::history::{History, Operation};
use crate::model::{Model, Partition};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// A task's place in [`TaskListsState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListedTask {
    /// Its RunTask has not taken effect.
    Absent,
    /// desiredStatus RUNNING.
    Running,
    /// desiredStatus STOPPED.
    Stopped,
}

/// The tasks of one cluster known so far; a task not in the map was made outside the history and not seen yet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TaskListsState(pub BTreeMap<String, ListedTask>);

/// The task list model; `EXTERNAL_STOPS` says whether something outside the history may stop tasks. See the module's
/// documentation, and the aliases [`TaskLists`] and [`StrictTaskLists`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskListModel<const EXTERNAL_STOPS: bool>;

/// Lists of tasks that may also be stopped by something outside the history.
pub type TaskLists = TaskListModel<true>;

/// Lists of tasks that only the recorded StopTask calls stop.
pub type StrictTaskLists = TaskListModel<false>;

/// Why [`TaskListModel`] refuses an operation.
enum Refusal<'a> {
    CreatedTwice(&'a str),
    StoppedBeforeCreate(&'a str),
    ListedBeforeCreate(&'a str, DesiredStatus),
    RunningAfterStop(&'a str),
    StoppedWithoutStopTask(&'a str),
    RunningNotListed(&'a str),
    StoppedNotListed(&'a str),
    NotAListCall,
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreatedTwice(arn) => write!(f, "a second RunTask returned {arn}"),
            Self::StoppedBeforeCreate(arn) => write!(f, "StopTask of {arn} succeeded before its RunTask took effect"),
            Self::ListedBeforeCreate(arn, status) => {
                write!(f, "ListTasks({status:?}) listed {arn} before its RunTask took effect")
            }
            Self::RunningAfterStop(arn) => write!(f, "ListTasks(Running) listed {arn} after it was stopped"),
            Self::StoppedWithoutStopTask(arn) => {
                write!(f, "ListTasks(Stopped) listed {arn} before any StopTask of it took effect")
            }
            Self::RunningNotListed(arn) => {
                write!(f, "ListTasks(Running) left out {arn}, running, with no StopTask of it placed before")
            }
            Self::StoppedNotListed(arn) => write!(f, "ListTasks(Stopped) left out {arn}, which was stopped before"),
            Self::NotAListCall => write!(f, "the answer does not fit the call"),
        }
    }
}

/// The state after a list under `status` answered `listed`.
fn list<'a>(
    state: &'a TaskListsState,
    status: DesiredStatus,
    listed: &'a [String],
    external_stops: bool,
) -> Result<TaskListsState, Refusal<'a>> {
    let mut next = state.clone();
    for arn in listed {
        let now = match (state.0.get(arn), status) {
            (Some(ListedTask::Absent), _) => return Err(Refusal::ListedBeforeCreate(arn, status)),
            (Some(ListedTask::Stopped), DesiredStatus::Running) => return Err(Refusal::RunningAfterStop(arn)),
            (Some(ListedTask::Running), DesiredStatus::Stopped) if !external_stops => {
                return Err(Refusal::StoppedWithoutStopTask(arn));
            }
            (_, DesiredStatus::Running) => ListedTask::Running,
            (_, DesiredStatus::Stopped) => ListedTask::Stopped,
        };
        next.0.insert(arn.clone(), now);
    }
    let listed: HashSet<&str> = listed.iter().map(String::as_str).collect();
    for (arn, task) in &state.0 {
        if listed.contains(arn.as_str()) {
            continue;
        }
        match (task, status) {
            (ListedTask::Running, DesiredStatus::Running) if external_stops => {
                next.0.insert(arn.clone(), ListedTask::Stopped);
            }
            (ListedTask::Running, DesiredStatus::Running) => return Err(Refusal::RunningNotListed(arn)),
            (ListedTask::Stopped, DesiredStatus::Stopped) => return Err(Refusal::StoppedNotListed(arn)),
            _ => {}
        }
    }
    Ok(next)
}

/// The state after `input` answered `output` (`None`: never answered, had it taken effect).
fn apply<'a>(
    state: &'a TaskListsState,
    input: &'a Call,
    output: Option<&'a Reply>,
    external_stops: bool,
) -> Result<TaskListsState, Refusal<'a>> {
    match (input, output) {
        (Call::RunTask { .. }, Some(Reply::Started(arns))) => {
            let mut next = state.clone();
            for arn in arns {
                if next.0.insert(arn.clone(), ListedTask::Running) != Some(ListedTask::Absent) {
                    return Err(Refusal::CreatedTwice(arn));
                }
            }
            Ok(next)
        }
        (Call::StopTask { task, .. }, None | Some(Reply::Done)) => {
            if state.0.get(task) == Some(&ListedTask::Absent) {
                return Err(Refusal::StoppedBeforeCreate(task));
            }
            let mut next = state.clone();
            next.0.insert(task.clone(), ListedTask::Stopped);
            Ok(next)
        }
        (Call::ListTasks { desired_status, .. }, Some(Reply::Listed(arns))) => {
            list(state, *desired_status, arns, external_stops)
        }
        _ => Err(Refusal::NotAListCall),
    }
}

impl<const EXTERNAL_STOPS: bool> Model for TaskListModel<EXTERNAL_STOPS> {
    const NAME: &'static str =
        if EXTERNAL_STOPS { "task lists (ListTasks per cluster)" } else { "task lists, only StopTask stops" };
    type State = TaskListsState;
    type Input = Call;
    type Output = Reply;

    fn init() -> TaskListsState {
        TaskListsState::default()
    }

    fn step(state: &TaskListsState, input: &Call, output: &Reply) -> Option<TaskListsState> {
        apply(state, input, Some(output), EXTERNAL_STOPS).ok()
    }

    fn step_pending(state: &TaskListsState, input: &Call) -> Option<TaskListsState> {
        apply(state, input, None, EXTERNAL_STOPS).ok()
    }

    fn explain(state: &TaskListsState, input: &Call, output: &Reply) -> String {
        match apply(state, input, Some(output), EXTERNAL_STOPS) {
            Err(refusal) => refusal.to_string(),
            Ok(_) => "allowed".to_string(),
        }
    }

    /// One sub-history per cluster that has a ListTasks; every task a RunTask of it returned starts [`ListedTask::Absent`].
    fn partition(history: &History<Call, Reply>) -> Vec<Partition<Self>> {
        let mut by_cluster: BTreeMap<&str, Vec<Operation<Call, Reply>>> = BTreeMap::new();
        for op in &history.ops {
            let keep = match (&op.input, op.output()) {
                (Call::RunTask { cluster }, Some(_))
                | (Call::StopTask { cluster, .. }, _)
                | (Call::ListTasks { cluster, .. }, Some(_)) => Some(cluster),
                _ => None,
            };
            if let Some(cluster) = keep {
                by_cluster.entry(cluster).or_default().push(op.clone());
            }
        }
        by_cluster
            .into_iter()
            .filter(|(_, ops)| ops.iter().any(|op| matches!(op.input, Call::ListTasks { .. })))
            .map(|(cluster, ops)| {
                let mut init = TaskListsState::default();
                for op in &ops {
                    if let Some(Reply::Started(arns)) = op.output() {
                        for arn in arns {
                            init.0.insert(arn.clone(), ListedTask::Absent);
                        }
                    }
                }
                Partition { key: cluster.to_string(), init, ops }
            })
            .collect()
    }
}

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
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A task's place in [`TaskListsState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListedTask {
    /// Its RunTask has not taken effect.
    Absent,
    /// Made outside the history and not listed yet: it may or may not exist.
    Unseen,
    /// desiredStatus RUNNING.
    Running,
    /// desiredStatus STOPPED.
    Stopped,
}

/// The tasks of one cluster: the ARNs its sub-history mentions, numbered once and shared by every state, and each
/// one's place. (Numbering keeps a state a small vector, cheap to clone and hash at every step of the search.)
#[derive(Clone)]
pub struct TaskListsState {
    names: Arc<Names>,
    tasks: Vec<ListedTask>,
}

/// ARNs by number and numbers by ARN.
#[derive(Default)]
struct Names {
    arns: Vec<String>,
    numbers: HashMap<String, usize>,
}

impl TaskListsState {
    /// A state knowing `tasks`, each with its place.
    pub fn new(tasks: impl IntoIterator<Item = (String, ListedTask)>) -> Self {
        let mut names = Names::default();
        let mut places = Vec::new();
        for (arn, place) in tasks {
            if let Some(&number) = names.numbers.get(&arn) {
                places[number] = place;
            } else {
                names.numbers.insert(arn.clone(), names.arns.len());
                names.arns.push(arn);
                places.push(place);
            }
        }
        Self { names: Arc::new(names), tasks: places }
    }

    /// The place of the task `arn`, if this state knows it.
    pub fn get(&self, arn: &str) -> Option<ListedTask> {
        self.names.numbers.get(arn).map(|&number| self.tasks[number])
    }

    fn number(&self, arn: &str) -> Option<usize> {
        self.names.numbers.get(arn).copied()
    }
}

/// States are compared by their places: every state of one sub-history shares its names.
impl PartialEq for TaskListsState {
    fn eq(&self, other: &Self) -> bool {
        self.tasks == other.tasks && (Arc::ptr_eq(&self.names, &other.names) || self.names.arns == other.names.arns)
    }
}

impl Eq for TaskListsState {}

impl Hash for TaskListsState {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.tasks.hash(state);
    }
}

impl fmt::Debug for TaskListsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.names.arns.iter().zip(&self.tasks).filter(|(_, place)| **place != ListedTask::Unseen))
            .finish()
    }
}

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
    UnknownTask(&'a str),
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
            Self::UnknownTask(arn) => write!(f, "{arn} is not one of the tasks this sub-history was made with"),
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
    let mut in_list = vec![false; state.tasks.len()];
    for arn in listed {
        let number = state.number(arn).ok_or(Refusal::UnknownTask(arn))?;
        in_list[number] = true;
        next.tasks[number] = match (state.tasks[number], status) {
            (ListedTask::Absent, _) => return Err(Refusal::ListedBeforeCreate(arn, status)),
            (ListedTask::Stopped, DesiredStatus::Running) => return Err(Refusal::RunningAfterStop(arn)),
            (ListedTask::Running, DesiredStatus::Stopped) if !external_stops => {
                return Err(Refusal::StoppedWithoutStopTask(arn));
            }
            (_, DesiredStatus::Running) => ListedTask::Running,
            (_, DesiredStatus::Stopped) => ListedTask::Stopped,
        };
    }
    for (number, place) in state.tasks.iter().enumerate() {
        if in_list[number] {
            continue;
        }
        match (place, status) {
            (ListedTask::Running, DesiredStatus::Running) if external_stops => {
                next.tasks[number] = ListedTask::Stopped;
            }
            (ListedTask::Running, DesiredStatus::Running) => {
                return Err(Refusal::RunningNotListed(&state.names.arns[number]));
            }
            (ListedTask::Stopped, DesiredStatus::Stopped) => {
                return Err(Refusal::StoppedNotListed(&state.names.arns[number]));
            }
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
                let number = state.number(arn).ok_or(Refusal::UnknownTask(arn))?;
                if next.tasks[number] != ListedTask::Absent {
                    return Err(Refusal::CreatedTwice(arn));
                }
                next.tasks[number] = ListedTask::Running;
            }
            Ok(next)
        }
        (Call::StopTask { task, .. }, None | Some(Reply::Done)) => {
            let number = state.number(task).ok_or(Refusal::UnknownTask(task))?;
            if state.tasks[number] == ListedTask::Absent {
                return Err(Refusal::StoppedBeforeCreate(task));
            }
            let mut next = state.clone();
            next.tasks[number] = ListedTask::Stopped;
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

    /// A state that knows no task; [`Model::partition`] gives each cluster one that knows its tasks.
    fn init() -> TaskListsState {
        TaskListsState::new([])
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

    /// One sub-history per cluster that has a ListTasks; every task a RunTask of it returned starts
    /// [`ListedTask::Absent`], every other task it mentions [`ListedTask::Unseen`].
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
                let mut tasks: BTreeMap<&str, ListedTask> = BTreeMap::new();
                for op in &ops {
                    match (&op.input, op.output()) {
                        (Call::RunTask { .. }, Some(Reply::Started(arns))) => {
                            for arn in arns {
                                tasks.insert(arn, ListedTask::Absent);
                            }
                        }
                        (Call::StopTask { task, .. }, _) => {
                            tasks.entry(task).or_insert(ListedTask::Unseen);
                        }
                        (_, Some(Reply::Listed(arns))) => {
                            for arn in arns {
                                tasks.entry(arn).or_insert(ListedTask::Unseen);
                            }
                        }
                        _ => {}
                    }
                }
                let init = TaskListsState::new(tasks.into_iter().map(|(arn, place)| (arn.to_string(), place)));
                Partition { key: cluster.to_string(), init, ops }
            })
            .collect()
    }
}

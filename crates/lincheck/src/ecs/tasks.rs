//! Each task's existence, desiredStatus and lastStatus, one sub-history per task ARN.
//!
//! - A task does not exist until the RunTask that returned its ARN takes effect; DescribeTasks finds it MISSING
//!   before, and finds it ever after (ECS keeps stopped tasks for an hour; Berth too).
//! - desiredStatus is RUNNING until a StopTask takes effect, then STOPPED for good (stopping a stopped task is fine).
//!   In [`Tasks`], something outside the history may also stop a task at any moment (it stopped on its own, the
//!   service scheduler scaled in, its instance was lost); only [`StrictTasks`] requires a StopTask in the history.
//!   Either way, RUNNING after STOPPED is an anomaly.
//! - lastStatus is the agents' business, so it is not written by these calls: it only moves forward in ECS's order
//!   ([`LastStatus`]), so a read may show any status at or past the last one placed before it, and a read showing
//!   less is a stale read. lastStatus STOPPED with desiredStatus RUNNING is allowed (a task that stopped by itself).
//! - A task whose RunTask is not in the history (a service's task, or one of a RunTask that never answered) was
//!   made at an unknown moment: reads may find it MISSING until one finds it.
//!
//! RunTask calls that never answered and DescribeTasks calls that never answered are left out (their ARNs and reads
//! are unknown).

use super::{Call, DesiredStatus, LastStatus, Reply, TaskStatus};
use crate::history::{History, Operation};
use crate::model::{Model, Partition};
use std::collections::BTreeMap;
use std::fmt;

/// One task's state in [`TaskModel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Its RunTask has not taken effect.
    Absent,
    /// Made outside the history at an unknown moment: it may or may not exist yet.
    Unseen,
    /// Exists.
    Present {
        /// Whether its desiredStatus is STOPPED.
        stopped: bool,
        /// The lowest lastStatus a read may show now.
        last: LastStatus,
    },
}

/// The task model; `EXTERNAL_STOPS` says whether something outside the history may stop tasks. See the module's
/// documentation, and the aliases [`Tasks`] and [`StrictTasks`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskModel<const EXTERNAL_STOPS: bool>;

/// Tasks that may also be stopped by something outside the history.
pub type Tasks = TaskModel<true>;

/// Tasks that only the recorded StopTask calls stop.
pub type StrictTasks = TaskModel<false>;

/// Why [`TaskModel`] refuses an operation.
enum Refusal {
    CreatedTwice,
    StoppedBeforeCreate,
    FoundBeforeCreate,
    MissingAfterFound,
    RunningAfterStop,
    StoppedWithoutStopTask,
    LastStatusBack { read: LastStatus, before: LastStatus },
    NotATaskCall,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreatedTwice => write!(f, "a second RunTask returned the same task ARN"),
            Self::StoppedBeforeCreate => write!(f, "StopTask succeeded before the task's RunTask took effect"),
            Self::FoundBeforeCreate => write!(f, "DescribeTasks found the task before its RunTask took effect"),
            Self::MissingAfterFound => write!(f, "DescribeTasks found the task MISSING after it existed"),
            Self::RunningAfterStop => {
                write!(f, "DescribeTasks saw desiredStatus RUNNING after the task's desiredStatus became STOPPED")
            }
            Self::StoppedWithoutStopTask => {
                write!(f, "DescribeTasks saw desiredStatus STOPPED before any StopTask of it took effect")
            }
            Self::LastStatusBack { read, before } => write!(
                f,
                "DescribeTasks saw lastStatus {read}, behind the {before} already seen: lastStatus went backwards"
            ),
            Self::NotATaskCall => write!(f, "the answer does not fit the call"),
        }
    }
}

/// The state after a task read that found `seen` (or MISSING).
fn read(state: TaskState, seen: Option<TaskStatus>, external_stops: bool) -> Result<TaskState, Refusal> {
    let Some(seen) = seen else {
        return match state {
            TaskState::Absent | TaskState::Unseen => Ok(state),
            TaskState::Present { .. } => Err(Refusal::MissingAfterFound),
        };
    };
    let (stopped, last) = match state {
        TaskState::Absent => return Err(Refusal::FoundBeforeCreate),
        TaskState::Unseen => (false, LastStatus::Provisioning),
        TaskState::Present { stopped, last } => (stopped, last),
    };
    if seen.last < last {
        return Err(Refusal::LastStatusBack { read: seen.last, before: last });
    }
    let stopped = match (seen.desired, stopped) {
        (DesiredStatus::Running, true) => return Err(Refusal::RunningAfterStop),
        (DesiredStatus::Running, false) => false,
        (DesiredStatus::Stopped, true) => true,
        (DesiredStatus::Stopped, false) if external_stops => true,
        (DesiredStatus::Stopped, false) => return Err(Refusal::StoppedWithoutStopTask),
    };
    Ok(TaskState::Present { stopped, last: seen.last })
}

/// The state after `input` answered `output` (`None`: never answered, had it taken effect).
fn apply(state: TaskState, input: &Call, output: Option<&Reply>, external_stops: bool) -> Result<TaskState, Refusal> {
    match (input, output) {
        (Call::RunTask { .. }, Some(Reply::Started(_))) => match state {
            TaskState::Absent => Ok(TaskState::Present { stopped: false, last: LastStatus::Provisioning }),
            TaskState::Unseen | TaskState::Present { .. } => Err(Refusal::CreatedTwice),
        },
        (Call::StopTask { .. }, None | Some(Reply::Done)) => match state {
            TaskState::Absent => Err(Refusal::StoppedBeforeCreate),
            TaskState::Unseen => Ok(TaskState::Present { stopped: true, last: LastStatus::Provisioning }),
            TaskState::Present { last, .. } => Ok(TaskState::Present { stopped: true, last }),
        },
        (Call::DescribeTasks { .. }, None) => Ok(state),
        (Call::DescribeTasks { .. }, Some(Reply::Tasks(reads))) => {
            reads.iter().try_fold(state, |state, task| read(state, task.status, external_stops))
        }
        _ => Err(Refusal::NotATaskCall),
    }
}

impl<const EXTERNAL_STOPS: bool> Model for TaskModel<EXTERNAL_STOPS> {
    const NAME: &'static str =
        if EXTERNAL_STOPS { "tasks (status per task ARN)" } else { "tasks, only StopTask stops (status per task ARN)" };
    type State = TaskState;
    type Input = Call;
    type Output = Reply;

    fn init() -> TaskState {
        TaskState::Absent
    }

    fn step(state: &TaskState, input: &Call, output: &Reply) -> Option<TaskState> {
        apply(*state, input, Some(output), EXTERNAL_STOPS).ok()
    }

    fn step_pending(state: &TaskState, input: &Call) -> Option<TaskState> {
        apply(*state, input, None, EXTERNAL_STOPS).ok()
    }

    fn explain(state: &TaskState, input: &Call, output: &Reply) -> String {
        match apply(*state, input, Some(output), EXTERNAL_STOPS) {
            Err(refusal) => refusal.to_string(),
            Ok(_) => "allowed".to_string(),
        }
    }

    /// One sub-history per task ARN: a RunTask is projected onto each ARN it returned, a DescribeTasks onto each
    /// ARN it asked about and got an answer for.
    fn partition(history: &History<Call, Reply>) -> Vec<Partition<Self>> {
        let mut by_arn: BTreeMap<String, Vec<Operation<Call, Reply>>> = BTreeMap::new();
        for op in &history.ops {
            match (&op.input, op.output()) {
                (Call::RunTask { .. }, Some(Reply::Started(arns))) => {
                    for arn in arns {
                        let output = Reply::Started(vec![arn.clone()]);
                        by_arn.entry(arn.clone()).or_default().push(op.project(op.input.clone(), Some(output)));
                    }
                }
                (Call::StopTask { task, .. }, _) => by_arn.entry(task.clone()).or_default().push(op.clone()),
                (Call::DescribeTasks { cluster, .. }, Some(Reply::Tasks(reads))) => {
                    let mut mine: BTreeMap<&String, Vec<super::TaskRead>> = BTreeMap::new();
                    for task in reads {
                        mine.entry(&task.task).or_default().push(task.clone());
                    }
                    for (arn, reads) in mine {
                        let input = Call::DescribeTasks { cluster: cluster.clone(), tasks: vec![arn.clone()] };
                        by_arn.entry(arn.clone()).or_default().push(op.project(input, Some(Reply::Tasks(reads))));
                    }
                }
                (Call::DescribeTasks { tasks, .. }, Some(_)) => {
                    for arn in tasks {
                        by_arn.entry(arn.clone()).or_default().push(op.clone());
                    }
                }
                _ => {}
            }
        }
        by_arn
            .into_iter()
            .map(|(key, ops)| {
                let created = ops.iter().any(|op| matches!(op.input, Call::RunTask { .. }));
                let init = if created { TaskState::Absent } else { TaskState::Unseen };
                Partition { key, init, ops }
            })
            .collect()
    }
}

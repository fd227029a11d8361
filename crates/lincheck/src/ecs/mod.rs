//! Berth's ECS operations as a history's inputs ([`Call`]) and outputs ([`Reply`]), and the models that check them:
//! [`Services`] (each service's desired count), [`Tasks`] (each task's desired and last status) and [`TaskLists`]
//! (each cluster's ListTasks against RunTask and StopTask), with stricter variants for runs in which only the
//! recorded calls stop tasks ([`StrictTasks`], [`StrictTaskLists`]).
//!
//! Names are compared as recorded: record a service by the same name (or the same ARN) in every call, and tasks by
//! their full ARN (as RunTask returns them), not by id.

mod services;
mod task_lists;
mod tasks;

#[cfg(test)]
mod tests;

pub use services::{ServiceState, Services};
pub use task_lists::{ListedTask, StrictTaskLists, TaskListModel, TaskLists, TaskListsState};
pub use tasks::{StrictTasks, TaskModel, TaskState, Tasks};

use crate::checker::{Checker, Report};
use crate::history::{History, InvalidHistory};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A call to Berth's ECS API, as a history records it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Call {
    /// CreateService with its desiredCount; answers [`Reply::Done`].
    CreateService {
        /// The cluster.
        cluster: String,
        /// The service's name.
        service: String,
        /// desiredCount.
        desired_count: u32,
    },
    /// UpdateService; answers [`Reply::Done`].
    UpdateService {
        /// The cluster.
        cluster: String,
        /// The service (name or ARN, as in every other call about it).
        service: String,
        /// desiredCount, if the call set it.
        desired_count: Option<u32>,
    },
    /// DescribeServices; answers [`Reply::Services`].
    DescribeServices {
        /// The cluster.
        cluster: String,
        /// The services asked about.
        services: Vec<String>,
    },
    /// RunTask; answers [`Reply::Started`] with the ARNs of the tasks it created.
    RunTask {
        /// The cluster.
        cluster: String,
    },
    /// StopTask; answers [`Reply::Done`] (the task, now with desiredStatus STOPPED).
    StopTask {
        /// The cluster.
        cluster: String,
        /// The task's ARN.
        task: String,
    },
    /// DescribeTasks; answers [`Reply::Tasks`].
    DescribeTasks {
        /// The cluster.
        cluster: String,
        /// The task ARNs asked about.
        tasks: Vec<String>,
    },
    /// ListTasks of one desiredStatus and no other filter, in one page (at most 100 tasks); answers
    /// [`Reply::Listed`].
    ListTasks {
        /// The cluster.
        cluster: String,
        /// The desiredStatus filter.
        desired_status: DesiredStatus,
    },
}

/// What a [`Call`] answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reply {
    /// CreateService, UpdateService or StopTask succeeded.
    Done,
    /// DescribeServices: each service asked about, found or in `failures` as MISSING.
    Services(Vec<ServiceRead>),
    /// RunTask: the ARNs of the tasks it started (its `tasks`; `failures` created nothing).
    Started(Vec<String>),
    /// DescribeTasks: each task asked about, found or in `failures` as MISSING.
    Tasks(Vec<TaskRead>),
    /// ListTasks: the task ARNs.
    Listed(Vec<String>),
}

/// One service of a DescribeServices answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRead {
    /// The service, as the call named it.
    pub service: String,
    /// Its desiredCount, or `None` if it was reported MISSING.
    pub desired_count: Option<u32>,
}

/// One task of a DescribeTasks answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRead {
    /// The task's ARN.
    pub task: String,
    /// Its statuses, or `None` if it was reported MISSING.
    pub status: Option<TaskStatus>,
}

/// A task's statuses as DescribeTasks shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// desiredStatus.
    pub desired: DesiredStatus,
    /// lastStatus.
    pub last: LastStatus,
}

/// A task's desiredStatus. (ECS also names PENDING, which Berth never sets; it is not modelled.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DesiredStatus {
    /// RUNNING.
    Running,
    /// STOPPED.
    Stopped,
}

impl DesiredStatus {
    /// Reads ECS's text; `None` for any other.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "RUNNING" => Some(Self::Running),
            "STOPPED" => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// A task's lastStatus, ordered as a task goes through them: it never moves back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LastStatus {
    /// PROVISIONING.
    Provisioning,
    /// PENDING.
    Pending,
    /// ACTIVATING.
    Activating,
    /// RUNNING.
    Running,
    /// DEACTIVATING.
    Deactivating,
    /// STOPPING.
    Stopping,
    /// DEPROVISIONING.
    Deprovisioning,
    /// STOPPED.
    Stopped,
}

impl LastStatus {
    /// Every status, in order.
    pub const ALL: [Self; 8] = [
        Self::Provisioning,
        Self::Pending,
        Self::Activating,
        Self::Running,
        Self::Deactivating,
        Self::Stopping,
        Self::Deprovisioning,
        Self::Stopped,
    ];

    /// Reads ECS's text; `None` for any other.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// ECS's text for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "PROVISIONING",
            Self::Pending => "PENDING",
            Self::Activating => "ACTIVATING",
            Self::Running => "RUNNING",
            Self::Deactivating => "DEACTIVATING",
            Self::Stopping => "STOPPING",
            Self::Deprovisioning => "DEPROVISIONING",
            Self::Stopped => "STOPPED",
        }
    }
}

impl fmt::Display for LastStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A history of ECS calls.
pub type EcsHistory = History<Call, Reply>;

/// An ECS history checked against every model: [`Services`], [`Tasks`] and [`TaskLists`].
#[derive(Clone, Debug)]
pub struct EcsReport {
    /// Each model's report.
    pub reports: Vec<Report<Call, Reply>>,
}

impl EcsReport {
    /// Whether every model found every sub-history linearizable.
    pub fn is_linearizable(&self) -> bool {
        self.reports.iter().all(Report::is_linearizable)
    }
}

impl fmt::Display for EcsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reports.iter().try_for_each(|report| write!(f, "{report}"))
    }
}

/// Checks an ECS history with [`Services`], [`Tasks`] and [`TaskLists`] (tasks may also stop on their own or by
/// the service scheduler; use the strict models directly for runs where only recorded calls stop tasks).
pub fn check(checker: &Checker, history: &EcsHistory) -> Result<EcsReport, InvalidHistory> {
    Ok(EcsReport {
        reports: vec![
            checker.check::<Services>(history)?,
            checker.check::<Tasks>(history)?,
            checker.check::<TaskLists>(history)?,
        ],
    })
}

//! Reports waiting to reach the server: the latest snapshot of each changed task, sent until acknowledged.

use berth_model::agent::TaskReport;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::Notify;

/// The latest unacknowledged report of each task, with a sequence number per change.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: Mutex<BTreeMap<String, (u64, TaskReport)>>,
    next: Mutex<u64>,
    notify: Notify,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (u64, TaskReport)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a task's latest report (replacing an older unsent one) and wakes the reporter.
    pub fn put(&self, report: TaskReport) {
        let seq = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            *next
        };
        let mut pending = self.lock();
        if pending.get(&report.task_arn).is_some_and(|(_, r)| *r == report) {
            return;
        }
        pending.insert(report.task_arn.clone(), (seq, report));
        drop(pending);
        self.notify.notify_one();
    }

    /// Drops a task's pending report.
    pub fn forget(&self, task_arn: &str) {
        self.lock().remove(task_arn);
    }

    /// Everything pending, with sequence numbers to acknowledge.
    pub fn snapshot(&self) -> Vec<(u64, TaskReport)> {
        self.lock().values().cloned().collect()
    }

    /// Removes the reports the server accepted, unless they changed since.
    pub fn acknowledge(&self, sent: &[(u64, String)]) {
        let mut pending = self.lock();
        for (seq, arn) in sent {
            if pending.get(arn).is_some_and(|(s, _)| s == seq) {
                pending.remove(arn);
            }
        }
    }

    /// Waits until something is queued.
    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(arn: &str, status: &str) -> TaskReport {
        TaskReport { task_arn: arn.into(), last_status: status.into(), ..Default::default() }
    }

    #[test]
    fn acknowledges_only_what_did_not_change() {
        let outbox = Outbox::default();
        outbox.put(report("a", "PENDING"));
        let sent: Vec<(u64, String)> = outbox.snapshot().into_iter().map(|(s, r)| (s, r.task_arn)).collect();
        outbox.put(report("a", "RUNNING"));
        outbox.acknowledge(&sent);
        let left = outbox.snapshot();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1.last_status, "RUNNING");
        let sent: Vec<(u64, String)> = left.into_iter().map(|(s, r)| (s, r.task_arn)).collect();
        outbox.acknowledge(&sent);
        assert!(outbox.snapshot().is_empty());
    }
}

//! Random valid histories: a sequential run of a reference (one operation every 100 time units, agents moving
//! tasks along in between), each operation then widened into a window of up to 250 either side, so that about five
//! overlap at any moment. Linearizable by construction; the models must say so, in few steps.

use super::*;
use crate::testing::{Builder, Rng, window};

const JITTER: u64 = 250;

/// A task of the reference run.
struct Sim {
    arn: String,
    stopped: bool,
    last: LastStatus,
}

impl Sim {
    fn status(&self) -> TaskStatus {
        let desired = if self.stopped { DesiredStatus::Stopped } else { DesiredStatus::Running };
        TaskStatus { desired, last: self.last }
    }
}

/// RunTask, StopTask, DescribeTasks and ListTasks on one cluster; with `external_stops`, agents also stop tasks
/// whose containers exited.
fn task_history(seed: u64, ops: u64, external_stops: bool) -> EcsHistory {
    let mut rng = Rng::new(seed);
    let mut builder = Builder::new();
    let mut tasks: Vec<Sim> = Vec::new();
    for i in 0..ops {
        let at = 1_000 + i * 100;
        let (call, ret) = window(&mut rng, at, JITTER);
        let client = i % 6;
        // The agents' side, unrecorded: a task moves on by up to two statuses (never back).
        if !tasks.is_empty() && rng.chance(40) {
            let pick = rng.below(tasks.len() as u64) as usize;
            let task = &mut tasks[pick];
            let at = LastStatus::ALL.iter().position(|s| *s == task.last).unwrap_or(0);
            task.last = LastStatus::ALL[(at + rng.below(3) as usize).min(7)];
            if external_stops && task.last == LastStatus::Stopped && rng.chance(50) {
                task.stopped = true;
            }
        }
        let dice = rng.below(100);
        if tasks.is_empty() || (dice < 15 && tasks.len() < 90) {
            let arns: Vec<String> =
                (0..=rng.below(2)).map(|k| format!("arn:task/{CLUSTER}/t{}-{k}", tasks.len())).collect();
            for arn in &arns {
                tasks.push(Sim { arn: arn.clone(), stopped: false, last: LastStatus::Provisioning });
            }
            builder.ok(client, call, ret, run_task(), Reply::Started(arns));
        } else if dice < 30 {
            let pick = rng.below(tasks.len() as u64) as usize;
            let task = &mut tasks[pick];
            let input = stop(&task.arn);
            if rng.chance(10) {
                if rng.chance(50) {
                    task.stopped = true;
                }
                builder.pending(client, call, input);
            } else {
                task.stopped = true;
                builder.ok(client, call, ret, input, Reply::Done);
            }
        } else if dice < 80 {
            let picked: Vec<usize> = (0..=rng.below(3)).map(|_| rng.below(tasks.len() as u64) as usize).collect();
            let input = Call::DescribeTasks {
                cluster: CLUSTER.into(),
                tasks: picked.iter().map(|&t| tasks[t].arn.clone()).collect(),
            };
            let reads = picked
                .iter()
                .map(|&t| TaskRead { task: tasks[t].arn.clone(), status: Some(tasks[t].status()) })
                .collect();
            if rng.chance(5) {
                builder.pending(client, call, input);
            } else {
                builder.ok(client, call, ret, input, Reply::Tasks(reads));
            }
        } else {
            let stopped = rng.chance(50);
            let desired = if stopped { DesiredStatus::Stopped } else { DesiredStatus::Running };
            let arns = tasks.iter().filter(|t| t.stopped == stopped).map(|t| t.arn.clone()).collect();
            builder.ok(client, call, ret, list(desired), Reply::Listed(arns));
        }
    }
    builder.build()
}

/// CreateService for three services, then UpdateService (some never answering, half of those applied) and
/// DescribeServices of one or two of them.
fn service_history(seed: u64, ops: u64) -> EcsHistory {
    const NAMES: [&str; 3] = ["web", "api", "worker"];
    let mut rng = Rng::new(seed);
    let mut builder = Builder::new();
    let mut counts = [0u32; 3];
    for (i, name) in NAMES.iter().enumerate() {
        counts[i] = rng.below(4) as u32;
        builder.ok(0, i as u64 * 10, i as u64 * 10 + 5, create(name, counts[i]), Reply::Done);
    }
    for i in 0..ops {
        let at = 1_000 + i * 100;
        let (call, ret) = window(&mut rng, at, JITTER);
        let client = i % 6;
        let s = rng.below(3) as usize;
        if rng.chance(40) {
            let count = rng.below(6) as u32;
            if rng.chance(10) {
                if rng.chance(50) {
                    counts[s] = count;
                }
                builder.pending(client, call, update(NAMES[s], count));
            } else {
                counts[s] = count;
                builder.ok(client, call, ret, update(NAMES[s], count), Reply::Done);
            }
        } else {
            let other = rng.below(3) as usize;
            let asked = if other == s { vec![NAMES[s]] } else { vec![NAMES[s], NAMES[other]] };
            let seen: Vec<_> = asked
                .iter()
                .map(|name| (*name, Some(counts[NAMES.iter().position(|n| n == name).unwrap_or(0)])))
                .collect();
            builder.ok(client, call, ret, describe_services(&asked), services_seen(&seen));
        }
    }
    builder.build()
}

#[test]
fn random_service_histories_are_accepted() {
    for seed in 0..10 {
        let history = service_history(seed, 500);
        let report = check::<Services>(&history);
        assert!(report.is_linearizable(), "seed {seed}: {report}");
        assert_eq!(report.partitions, 3);
        assert!(report.steps < 100_000, "seed {seed}: {} steps", report.steps);
    }
}

#[test]
fn random_task_histories_are_accepted() {
    for seed in 0..10 {
        let history = task_history(seed, 500, false);
        for report in [check::<StrictTasks>(&history), check::<Tasks>(&history)] {
            assert!(report.is_linearizable(), "seed {seed}: {report}");
            assert!(report.steps < 100_000, "seed {seed}: {} steps", report.steps);
        }
        for report in [check::<StrictTaskLists>(&history), check::<TaskLists>(&history)] {
            assert!(report.is_linearizable(), "seed {seed}: {report}");
            assert!(report.steps < 1_000_000, "seed {seed}: {} steps", report.steps);
        }
    }
}

#[test]
fn random_task_histories_with_tasks_stopping_on_their_own_are_accepted() {
    for seed in 100..110 {
        let history = task_history(seed, 500, true);
        let report = crate::ecs::check(&Checker::new(), &history).unwrap();
        assert!(report.is_linearizable(), "seed {seed}: {report}");
    }
}

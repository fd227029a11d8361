//! The liveness controller on an in-memory store with a manual clock (issue 10, item 1): an agent that goes silent
//! is marked disconnected after the agent timeout, and its instance's tasks are stopped after the lost-instance
//! timeout, with the clock advanced by hand and no real sleeps (the runtime is single-threaded; `settle` yields).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_control::{Control, ControlConfig};
use berth_model::agent::{AgentResources, RegisterRequest};
use berth_model::clock::ManualClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

struct Setup {
    control: Arc<Control>,
    clock: Arc<ManualClock>,
    instance: String,
}

async fn setup() -> Setup {
    let clock = Arc::new(ManualClock::new(1_700_000_000.0));
    let config = ControlConfig {
        agent_timeout: Duration::from_secs(10),
        lost_instance_timeout: Duration::from_secs(30),
        ..ControlConfig::default()
    };
    let control = Control::start(Arc::new(MemoryStore::new()), clock.clone(), config).await.unwrap();
    let mut attributes = BTreeMap::new();
    attributes.insert("ecs.capability.task-cpu-mem-limit".to_string(), String::new());
    let out = control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "node".into(),
            resources: AgentResources { cpu: 1024, memory_mib: 1024, ..Default::default() },
            attributes,
            ..Default::default()
        })
        .await
        .unwrap();
    let instance = out.container_instance_arn.rsplit('/').next().unwrap().to_string();
    tokio::spawn(berth_control::liveness::run(control.clone()));
    let s = Setup { control, clock, instance };
    s.settle().await;
    s
}

impl Setup {
    /// Lets the controller (and the cache's watch) run until they wait.
    async fn settle(&self) {
        for _ in 0..300 {
            tokio::task::yield_now().await;
        }
    }

    async fn advance(&self, seconds: f64) {
        self.clock.advance(seconds);
        self.settle().await;
    }

    /// `agentConnected` as DescribeContainerInstances shows it.
    fn connected(&self) -> bool {
        let out = self
            .control
            .describe_container_instances(DescribeContainerInstancesRequest {
                container_instances: vec![self.instance.clone()],
                ..Default::default()
            })
            .unwrap();
        out.container_instances.unwrap()[0].agent_connected
    }

    fn task(&self, arn: &str) -> Task {
        let out = self
            .control
            .describe_tasks(DescribeTasksRequest { tasks: vec![arn.into()], ..Default::default() })
            .unwrap();
        out.tasks.unwrap().remove(0)
    }
}

#[tokio::test]
async fn a_silent_agent_is_disconnected_after_the_timeout_and_its_tasks_stopped_when_lost() {
    let s = setup().await;
    let td = common::register_app(&s.control, "app", "x").await;
    let task =
        s.control.run_task(RunTaskRequest { task_definition: td, ..Default::default() }).await.unwrap().tasks.unwrap()
            [0]
        .task_arn
        .clone()
        .unwrap();
    assert!(s.connected());
    assert_eq!(s.control.desired_state("default", &s.instance).assignment_epoch, Some(0), "never lost yet");

    // t = 9: the agent speaks; its deadline moves from 10 to 19.
    s.advance(9.0).await;
    assert!(s.connected());
    s.control.touch_agent("default", &s.instance).await.unwrap();
    s.advance(9.0).await;
    assert!(s.connected(), "t = 18: 9 s since the agent last spoke");
    s.advance(1.2).await;
    assert!(!s.connected(), "t = 19.2: silent for more than 10 s");
    assert_eq!(s.task(&task).desired_status.as_deref(), Some("RUNNING"), "not lost yet");

    // Lost at 9 + 30 = 39.
    s.advance(19.5).await;
    assert_eq!(s.task(&task).desired_status.as_deref(), Some("RUNNING"), "t = 38.7: not lost yet");
    s.advance(0.5).await;
    let stopped = s.task(&task);
    assert_eq!(stopped.last_status.as_deref(), Some("STOPPED"), "t = 39.2: lost");
    assert_eq!(stopped.stop_code, Some(TaskStopCode::InfrastructureHealth));
    assert!(stopped.stopped_reason.unwrap_or_default().contains("was lost"));
    // The loss opened a new assignment epoch, which the desired state and the next report's answer carry (the
    // returning agent starts nothing of epoch 0).
    let desired = s.control.desired_state("default", &s.instance);
    assert_eq!(desired.assignment_epoch, Some(1));
    assert!(desired.tasks.is_empty());
    let answer = s.control.agent_report("default", &s.instance, Default::default()).await.unwrap();
    assert_eq!(answer.assignment_epoch, Some(1));

    // The agent comes back (connected again), then goes silent again: disconnected once more, 10 s later.
    s.control.touch_agent("default", &s.instance).await.unwrap();
    s.settle().await;
    assert!(s.connected());
    s.advance(9.9).await;
    assert!(s.connected());
    s.advance(0.3).await;
    assert!(!s.connected(), "a reconnected agent is watched again");
}

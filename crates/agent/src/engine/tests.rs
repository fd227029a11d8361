//! The engine on the fake runtime: start, essential exit, stop, pull failure, adoption, restart policy.

use super::*;
use crate::runtime::fake::Call;
use crate::runtime::{ContainerRuntime, FakeRuntime, RuntimeError};
use berth_model::agent::{ContainerSpec as WireContainer, RegisterResponse, TaskReport, TaskSpec};
use berth_model::clock::ManualClock;
use berth_model::ecs::{ContainerDefinition, ContainerRestartPolicy};
use futures::StreamExt;

const IMAGE: &str = "berth-workload:latest";
const INSTANCE: &str = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0000";

struct Harness {
    fake: FakeRuntime,
    engine: Engine<FakeRuntime>,
    rx: mpsc::UnboundedReceiver<Msg>,
    outbox: Arc<Outbox>,
    events: crate::runtime::EventStream,
    clock: Arc<ManualClock>,
}

async fn harness() -> Harness {
    let fake = FakeRuntime::new();
    fake.add_image(IMAGE);
    let (tx, rx) = mpsc::unbounded_channel();
    let outbox = Arc::new(Outbox::default());
    let session = Arc::new(Session::default());
    session.update(&RegisterResponse { container_instance_arn: INSTANCE.into(), ..Default::default() });
    let config = EngineConfig { default_stop_timeout: Duration::from_secs(2), ..Default::default() };
    let events = fake.events().await.unwrap();
    // The engine's clock and the fake engine's clock start together, as on a real host.
    let clock = Arc::new(ManualClock::new(crate::runtime::fake::DEFAULT_NOW));
    let engine = Engine::new(Arc::new(fake.clone()), config, clock.clone(), session, tx, outbox.clone());
    Harness { fake, engine, rx, outbox, events, clock }
}

impl Harness {
    /// Feeds worker results and Docker events back into the engine until nothing happens for a moment.
    async fn settle(&mut self) {
        loop {
            tokio::select! {
                Some(msg) = self.rx.recv() => self.engine.handle(msg).await,
                Some(Ok(event)) = self.events.next() => self.engine.handle(Msg::Event(event)).await,
                _ = tokio::time::sleep(Duration::from_millis(100)) => return,
            }
        }
    }

    fn latest(&self, arn: &str) -> TaskReport {
        self.outbox.snapshot().into_iter().map(|(_, r)| r).find(|r| r.task_arn == arn).expect("a report for the task")
    }
}

fn container(name: &str, essential: bool) -> WireContainer {
    WireContainer {
        container_arn: format!("arn:container/{name}"),
        definition: ContainerDefinition {
            name: Some(name.into()),
            image: Some(IMAGE.into()),
            essential: Some(essential),
            memory: Some(64),
            ..Default::default()
        },
    }
}

fn task(id: &str, containers: Vec<WireContainer>) -> TaskSpec {
    TaskSpec {
        task_arn: format!("arn:aws:ecs:us-east-1:000000000000:task/default/{id}"),
        cluster_arn: "arn:aws:ecs:us-east-1:000000000000:cluster/default".into(),
        family: "web".into(),
        revision: 1,
        desired_status: "RUNNING".into(),
        containers,
        ..Default::default()
    }
}

fn desired(tasks: Vec<TaskSpec>) -> Msg {
    Msg::Desired(DesiredState { revision: 1, tasks, ..Default::default() })
}

/// A desired state of an assignment epoch.
fn desired_at(epoch: u64, tasks: Vec<TaskSpec>) -> Msg {
    Msg::Desired(DesiredState {
        revision: 1 + epoch as i64,
        tasks,
        assignment_epoch: Some(epoch),
        ..Default::default()
    })
}

/// A lease for a 30 s lost-instance timeout on the harness's clock, not yet confirmed.
fn leased(h: &mut Harness) -> Arc<crate::lease::AssignmentLease> {
    let lease = Arc::new(crate::lease::AssignmentLease::new(h.clock.clone()));
    lease.set_lost_after(Some(30));
    h.engine.set_lease(lease.clone());
    lease
}

#[tokio::test]
async fn a_start_waits_for_the_server_to_confirm_the_assignment() {
    let mut h = harness().await;
    let lease = leased(&mut h);
    let t = task("t1", vec![container("app", true)]);
    h.engine.handle(desired_at(0, vec![t.clone()])).await;
    h.settle().await;
    assert!(h.fake.id_of(&crate::convert::container_name(&t, "app")).is_none(), "nothing created unconfirmed");
    assert_ne!(h.latest(&t.task_arn).last_status, "RUNNING");
    lease.confirmed(h.clock.monotonic(), Some(0));
    h.settle().await;
    assert_eq!(h.latest(&t.task_arn).last_status, "RUNNING");
}

#[tokio::test]
async fn an_agent_found_lost_while_away_never_starts_what_it_was_given_before() {
    let mut h = harness().await;
    let lease = leased(&mut h);
    let t = task("t1", vec![container("app", true)]);
    // Assigned at epoch 1, but the server's first answer after the agent's absence names epoch 2: the instance was
    // found lost and t was replaced elsewhere.
    h.engine.handle(desired_at(1, vec![t.clone()])).await;
    lease.confirmed(h.clock.monotonic(), Some(2));
    h.settle().await;
    assert!(h.fake.id_of(&crate::convert::container_name(&t, "app")).is_none(), "held: the epoch is old");
    // The new desired state (epoch 2) no longer lists it: it is dropped without ever starting.
    h.engine.handle(desired_at(2, vec![])).await;
    h.settle().await;
    assert!(h.fake.id_of(&crate::convert::container_name(&t, "app")).is_none(), "never started");
    assert!(!h.engine.tasks().contains_key(&t.task_arn) || h.latest(&t.task_arn).last_status == "STOPPED");
    // A task of the new epoch starts at once.
    let u = task("t2", vec![container("app", true)]);
    h.engine.handle(desired_at(2, vec![u.clone()])).await;
    h.settle().await;
    assert_eq!(h.latest(&u.task_arn).last_status, "RUNNING");
}

#[tokio::test]
async fn starts_a_task_and_reports_running() {
    let mut h = harness().await;
    let t = task("t1", vec![container("app", true), container("sidecar", false)]);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    let report = h.latest(&t.task_arn);
    assert_eq!(report.last_status, "RUNNING");
    assert!(report.pull_started_at.is_some() && report.pull_stopped_at.is_some());
    assert!(report.containers.iter().all(|c| c.last_status == "RUNNING" && c.runtime_id.is_some()));
    let id = h.fake.id_of(&crate::convert::container_name(&t, "app")).unwrap();
    let spec = h.fake.spec(&id).unwrap();
    assert_eq!(spec.labels[crate::convert::LABEL_INSTANCE_ARN], INSTANCE);
}

#[tokio::test]
async fn bridge_containers_resolve_through_the_agents_dns_unless_they_name_dns_servers() {
    let mut h = harness().await;
    h.engine.set_dns(std::net::Ipv4Addr::new(169, 254, 53, 9));
    let mut pinned = container("pinned", false);
    pinned.definition.dns_servers = Some(vec!["10.0.0.2".into()]);
    let t = task("tdns", vec![container("app", true), pinned]);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    let dns_of = |task: &TaskSpec, name: &str| {
        let id = h.fake.id_of(&crate::convert::container_name(task, name)).unwrap();
        h.fake.spec(&id).unwrap().dns_servers
    };
    assert_eq!(dns_of(&t, "app"), vec!["169.254.53.9".to_string()]);
    assert_eq!(dns_of(&t, "pinned"), vec!["10.0.0.2".to_string()], "dnsServers win");
}

#[tokio::test]
async fn essential_exit_stops_the_task() {
    let mut h = harness().await;
    let t = task("t2", vec![container("app", true), container("sidecar", false)]);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    let app = h.fake.id_of(&crate::convert::container_name(&t, "app")).unwrap();
    h.fake.exit(&app, 3).unwrap();
    h.settle().await;
    let report = h.latest(&t.task_arn);
    assert_eq!(report.last_status, "STOPPED");
    assert_eq!(report.stop_code.as_deref(), Some("EssentialContainerExited"));
    assert_eq!(report.stopped_reason.as_deref(), Some(ESSENTIAL_EXITED));
    let app_report = report.containers.iter().find(|c| c.name == "app").unwrap();
    assert_eq!(app_report.exit_code, Some(3));
    assert!(report.containers.iter().all(|c| c.last_status == "STOPPED"));
}

#[tokio::test]
async fn non_essential_exit_keeps_the_task_running() {
    let mut h = harness().await;
    let t = task("t3", vec![container("app", true), container("sidecar", false)]);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    let sidecar = h.fake.id_of(&crate::convert::container_name(&t, "sidecar")).unwrap();
    h.fake.exit(&sidecar, 0).unwrap();
    h.settle().await;
    let report = h.latest(&t.task_arn);
    assert_eq!(report.last_status, "RUNNING");
    assert_eq!(report.containers.iter().find(|c| c.name == "sidecar").unwrap().exit_code, Some(0));
}

#[tokio::test]
async fn desired_stopped_stops_with_the_container_timeouts() {
    let mut h = harness().await;
    let mut t = task("t4", vec![container("app", true)]);
    t.containers[0].definition.stop_timeout = Some(7);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    t.desired_status = "STOPPED".into();
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    assert_eq!(h.latest(&t.task_arn).last_status, "STOPPED");
    let stop = h.fake.calls().into_iter().find_map(|c| match c {
        crate::runtime::fake::Call::Stop { timeout, .. } => Some(timeout),
        _ => None,
    });
    assert_eq!(stop, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn containers_stop_in_reverse_dependency_order() {
    use berth_model::ecs::{ContainerCondition, ContainerDependency};
    let mut h = harness().await;
    // "web" sorts after "proxy", so a stop in name order would stop the proxy first.
    let mut app = container("web", true);
    app.definition.depends_on =
        Some(vec![ContainerDependency { container_name: "proxy".into(), condition: ContainerCondition::Start }]);
    let mut t = task("t4b", vec![app, container("proxy", true), container("other", false)]);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    t.desired_status = "STOPPED".into();
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    assert_eq!(h.latest(&t.task_arn).last_status, "STOPPED");
    let id = |name: &str| h.fake.id_of(&crate::convert::container_name(&t, name)).unwrap();
    let stops: Vec<String> = h
        .fake
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            crate::runtime::fake::Call::Stop { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    let at = |name: &str| stops.iter().position(|s| *s == id(name)).unwrap();
    assert!(at("web") < at("proxy"), "the app stops before the proxy it depends on: {stops:?}");
    assert_eq!(stops.len(), 3);
}

#[tokio::test]
async fn pull_failure_without_a_local_image_fails_the_task() {
    let mut h = harness().await;
    let mut t = task("t5", vec![container("app", true)]);
    t.containers[0].definition.image = Some("registry.invalid/missing:1".into());
    h.fake.fail_pull(
        "registry.invalid/missing:1",
        RuntimeError::NotFound {
            call: "pull_image",
            target: "registry.invalid/missing:1".into(),
            message: "manifest unknown".into(),
        },
    );
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    let report = h.latest(&t.task_arn);
    assert_eq!(report.last_status, "STOPPED");
    assert_eq!(report.stop_code.as_deref(), Some("TaskFailedToStart"));
    assert!(report.stopped_reason.unwrap().starts_with("CannotPullContainerError"));
}

#[tokio::test]
async fn a_new_engine_adopts_running_containers_without_recreating_them() {
    let mut h = harness().await;
    let t = task("t6", vec![container("app", true)]);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    let creates_before =
        h.fake.calls().iter().filter(|c| matches!(c, crate::runtime::fake::Call::Create { .. })).count();

    // A second engine on the same runtime: the agent restarted.
    let (tx, rx) = mpsc::unbounded_channel();
    let outbox = Arc::new(Outbox::default());
    let session = Arc::new(Session::default());
    session.update(&RegisterResponse { container_instance_arn: INSTANCE.into(), ..Default::default() });
    let mut engine = Engine::new(
        Arc::new(h.fake.clone()),
        EngineConfig::default(),
        Arc::new(ManualClock::new(2000.0)),
        session,
        tx,
        outbox.clone(),
    );
    assert_eq!(engine.adopt().await.unwrap(), 1);
    engine.handle(desired(vec![t.clone()])).await;
    h.engine = engine;
    h.rx = rx;
    h.outbox = outbox;
    h.settle().await;
    let creates_after =
        h.fake.calls().iter().filter(|c| matches!(c, crate::runtime::fake::Call::Create { .. })).count();
    assert_eq!(creates_before, creates_after, "adoption must not recreate containers");
    assert_eq!(h.latest(&t.task_arn).last_status, "RUNNING");
    assert!(!h.fake.calls().iter().any(|c| matches!(c, crate::runtime::fake::Call::Stop { .. })));

    // The server no longer wants it: the engine stops it.
    h.engine.handle(desired(vec![])).await;
    h.settle().await;
    assert!(h.fake.calls().iter().any(|c| matches!(c, crate::runtime::fake::Call::Stop { .. })));
}

#[tokio::test]
async fn an_adopted_container_that_was_created_but_never_started_is_started() {
    // The agent died between create and start (kill -9 of `berth up` during a deployment): the container exists
    // in the created state. The task must not be reported RUNNING until that container really runs.
    let h = harness().await;
    let t = task("t6b", vec![container("app", true)]);
    let spec = crate::convert::container_spec(&t, &t.containers[0], INSTANCE);
    let id = h.fake.create_container(&spec).await.unwrap();
    assert!(!h.fake.inspect_container(&id).await.unwrap().unwrap().running);

    let mut h = h;
    assert_eq!(h.engine.adopt().await.unwrap(), 1);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    assert!(h.fake.inspect_container(&id).await.unwrap().unwrap().running, "the created container was not started");
    let creates = h.fake.calls().iter().filter(|c| matches!(c, Call::Create { .. })).count();
    assert_eq!(creates, 1, "adoption must start the created container, not create another");
    let report = h.latest(&t.task_arn);
    assert_eq!(report.last_status, "RUNNING");
    assert_eq!(report.containers[0].last_status, "RUNNING");
}

#[tokio::test]
async fn restart_policy_restarts_in_place() {
    let mut h = harness().await;
    let mut t = task("t7", vec![container("app", true)]);
    t.containers[0].definition.restart_policy = Some(ContainerRestartPolicy {
        enabled: true,
        ignored_exit_codes: Some(vec![0]),
        restart_attempt_period: Some(60),
    });
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    let app = h.fake.id_of(&crate::convert::container_name(&t, "app")).unwrap();

    // It ran longer than restartAttemptPeriod, then failed: restarted in place, counted, task still RUNNING.
    h.fake.advance(Duration::from_secs(120));
    h.clock.advance(120.0);
    h.fake.exit(&app, 1).unwrap();
    h.settle().await;
    let report = h.latest(&t.task_arn);
    assert_eq!(report.last_status, "RUNNING");
    let c = &report.containers[0];
    assert_eq!((c.restart_count, c.last_status.as_str()), (1, "RUNNING"));

    // It failed again at once (ran less than the period): the essential container's exit stops the task.
    h.fake.exit(&app, 1).unwrap();
    h.settle().await;
    let report = h.latest(&t.task_arn);
    assert_eq!(report.last_status, "STOPPED");
    assert_eq!(report.stop_code.as_deref(), Some("EssentialContainerExited"));
}

#[tokio::test]
async fn ignored_exit_codes_are_not_restarted() {
    let mut h = harness().await;
    let mut t = task("t8", vec![container("app", true)]);
    t.containers[0].definition.restart_policy = Some(ContainerRestartPolicy {
        enabled: true,
        ignored_exit_codes: Some(vec![0]),
        restart_attempt_period: Some(60),
    });
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    let app = h.fake.id_of(&crate::convert::container_name(&t, "app")).unwrap();
    h.fake.advance(Duration::from_secs(120));
    h.clock.advance(120.0);
    h.fake.exit(&app, 0).unwrap();
    h.settle().await;
    let report = h.latest(&t.task_arn);
    assert_eq!(report.last_status, "STOPPED");
    assert_eq!(report.containers[0].restart_count, 0);
}

#[tokio::test]
async fn concurrent_pulls_of_one_image_are_shared() {
    let fake = FakeRuntime::new();
    fake.add_image(IMAGE);
    fake.set_pull_delay(Duration::from_millis(50));
    let pulls = worker::Pulls::default();
    let all = futures::future::join_all((0..5).map(|_| pulls.pull(&fake, IMAGE, None))).await;
    assert!(all.iter().all(Result::is_ok));
    let count = fake.calls().iter().filter(|c| matches!(c, crate::runtime::fake::Call::Pull { .. })).count();
    assert_eq!(count, 1, "five tasks starting together share one pull");
    // A later start pulls again.
    pulls.pull(&fake, IMAGE, None).await.unwrap();
    let count = fake.calls().iter().filter(|c| matches!(c, crate::runtime::fake::Call::Pull { .. })).count();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn a_resync_catches_an_exit_whose_event_was_lost() {
    let mut h = harness().await;
    let t = task("t9", vec![container("app", true)]);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    let app = h.fake.id_of(&crate::convert::container_name(&t, "app")).unwrap();
    h.fake.exit(&app, 4).unwrap();
    // The die event is lost.
    while let Some(Some(_)) = futures::FutureExt::now_or_never(h.events.next()) {}
    assert_eq!(h.latest(&t.task_arn).last_status, "RUNNING");
    h.engine.handle(Msg::Resync).await;
    h.settle().await;
    let report = h.latest(&t.task_arn);
    assert_eq!(report.last_status, "STOPPED");
    assert_eq!(report.containers[0].exit_code, Some(4));
}

#[tokio::test]
async fn only_the_newest_failed_tasks_of_a_group_keep_their_containers() {
    let mut h = harness().await;
    let kept = EngineConfig::default().failed_tasks_kept;
    let removed = |h: &Harness| -> Vec<String> {
        h.fake
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                crate::runtime::fake::Call::Remove { id } => Some(id),
                _ => None,
            })
            .collect()
    };
    // A healthy task the server stops: its container stays for the normal wait.
    let mut calm = task("calm", vec![container("app", true)]);
    calm.group = Some("service:web".into());
    h.engine.handle(desired(vec![calm.clone()])).await;
    h.settle().await;
    calm.desired_status = "STOPPED".into();
    calm.stop_code = Some("UserInitiated".into());
    h.engine.handle(desired(vec![calm.clone()])).await;
    h.settle().await;
    h.engine.handle(desired(vec![])).await;
    h.settle().await;
    // Crashing tasks of the same service, one after another, each forgotten once the server has it STOPPED.
    let mut ids = Vec::new();
    for i in 0..kept + 2 {
        let mut t = task(&format!("crash{i}"), vec![container("app", true)]);
        t.group = Some("service:web".into());
        h.engine.handle(desired(vec![t.clone()])).await;
        h.settle().await;
        let id = h.fake.id_of(&crate::convert::container_name(&t, "app")).unwrap();
        h.fake.exit(&id, 3).unwrap();
        h.settle().await;
        assert_eq!(h.latest(&t.task_arn).stop_code.as_deref(), Some("EssentialContainerExited"));
        h.engine.handle(desired(vec![])).await;
        h.settle().await;
        ids.push(id);
    }
    let gone = removed(&h);
    assert_eq!(gone, ids[..2].to_vec(), "the two oldest failed tasks lose their containers at once");
    assert_eq!(h.fake.container_ids().len(), kept + 1, "the newest failed ones and the healthy one are kept");
}

#[tokio::test]
async fn a_container_created_by_this_start_is_started_without_an_inspection_first() {
    let mut h = harness().await;
    let t = task("t-lat", vec![container("app", true)]);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    assert_eq!(h.latest(&t.task_arn).last_status, "RUNNING");
    let app = h.fake.id_of(&crate::convert::container_name(&t, "app")).unwrap();
    let calls = h.fake.calls();
    let created = calls.iter().position(|c| matches!(c, Call::Create { .. })).expect("a create");
    let started = calls.iter().position(|c| matches!(c, Call::Start { id } if *id == app)).expect("a start");
    assert!(
        !calls[created..started].iter().any(|c| matches!(c, Call::Inspect { .. })),
        "no round trip between create and start: {calls:?}"
    );
    // The one after the start stays: it reads the dynamic host ports.
    assert!(calls[started..].iter().any(|c| matches!(c, Call::Inspect { id } if *id == app)), "{calls:?}");
}

#[tokio::test]
async fn a_failed_pull_of_a_local_image_inspects_the_image_once() {
    let mut h = harness().await;
    let unreachable =
        RuntimeError::Unavailable { call: "pull_image", target: IMAGE.into(), message: "no registry".into() };
    h.fake.fail_pull(IMAGE, unreachable);
    let t = task("t-img", vec![container("app", true)]);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    // The default behaviour tries the pull, as ECS's agent does, then uses the local image.
    assert_eq!(h.latest(&t.task_arn).last_status, "RUNNING");
    let calls = h.fake.calls();
    assert_eq!(calls.iter().filter(|c| matches!(c, Call::Pull { .. })).count(), 1, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| matches!(c, Call::InspectImage { .. })).count(), 1, "{calls:?}");
}

#[tokio::test]
async fn an_adopted_task_whose_containers_exited_meanwhile_stops_as_an_essential_exit() {
    // The container exited while no agent watched it (or while the restarted agent was adopting it, before the
    // server's desired state arrived): the report says why, as a watched essential exit would.
    let h = harness().await;
    let t = task("t6c", vec![container("app", true)]);
    let spec = crate::convert::container_spec(&t, &t.containers[0], INSTANCE);
    let id = h.fake.create_container(&spec).await.unwrap();
    h.fake.start_container(&id).await.unwrap();
    h.fake.exit(&id, 7).unwrap();

    let mut h = h;
    assert_eq!(h.engine.adopt().await.unwrap(), 1);
    h.engine.handle(desired(vec![t.clone()])).await;
    h.settle().await;
    let report = h.latest(&t.task_arn);
    assert_eq!(report.last_status, "STOPPED");
    assert_eq!(report.stop_code.as_deref(), Some("EssentialContainerExited"));
    assert_eq!(report.containers[0].exit_code, Some(7));
}

#[tokio::test]
async fn with_enforcement_every_container_of_a_fargate_task_is_capped_at_the_tasks_storage() {
    let size_of = |h: &Harness, t: &TaskSpec, name: &str| {
        let id = h.fake.id_of(&crate::convert::container_name(t, name)).unwrap();
        h.fake.spec(&id).unwrap().storage_size_gib
    };
    let fargate = |id: &str| TaskSpec {
        launch_type: Some("FARGATE".into()),
        ephemeral_storage_gib: Some(100),
        ..task(id, vec![container("app", true), container("sidecar", false)])
    };
    let mut h = harness().await;
    h.engine.set_storage_quota(true);
    let (big, ec2) = (fargate("f1"), task("e1", vec![container("app", true)]));
    h.engine.handle(desired(vec![big.clone(), ec2.clone()])).await;
    h.settle().await;
    assert_eq!((size_of(&h, &big, "app"), size_of(&h, &big, "sidecar")), (Some(100), Some(100)));
    assert_eq!(size_of(&h, &ec2, "app"), None, "ECS does not cap EC2 tasks' disk");
    // Without enforcement (a driver that cannot), nothing is capped.
    let mut h = harness().await;
    let unenforced = fargate("f2");
    h.engine.handle(desired(vec![unenforced.clone()])).await;
    h.settle().await;
    assert_eq!(size_of(&h, &unenforced, "app"), None);
}

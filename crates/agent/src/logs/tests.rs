//! The shipper on the fake runtime and an in-memory log store, in real (short) time.

use super::sink::fake::FakeSink;
use super::*;
use crate::runtime::{ContainerSpec, FakeRuntime};
use berth_model::clock::SystemClock;
use std::sync::atomic::Ordering;

const TASK_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef";
const INSTANCE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/i-1";

fn owner() -> Owner {
    Arc::new(|| INSTANCE_ARN.to_string())
}

struct Setup {
    runtime: Arc<FakeRuntime>,
    sink: Arc<FakeSink>,
    dir: tempfile::TempDir,
    shippers: Arc<Shippers<FakeRuntime>>,
}

fn setup() -> Setup {
    let runtime = Arc::new(FakeRuntime::new());
    runtime.add_image("img");
    let sink = Arc::new(FakeSink::default());
    let dir = tempfile::tempdir().unwrap();
    runtime.keep_logs_in(dir.path());
    runtime.rotate_logs(2_000, 3);
    let shippers = Shippers::new(runtime.clone(), sink.clone(), dir.path(), Arc::new(SystemClock), owner());
    Setup { runtime, sink, dir, shippers }
}

impl Setup {
    /// A fresh registry on the same runtime, store and state dir: the agent after a restart.
    fn restarted(&self) -> Arc<Shippers<FakeRuntime>> {
        Shippers::new(self.runtime.clone(), self.sink.clone(), self.dir.path(), Arc::new(SystemClock), owner())
    }

    async fn create(&self, name: &str, options: &[(&str, &str)]) -> (String, BTreeMap<String, String>) {
        let options: BTreeMap<String, String> = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let labels = BTreeMap::from([
            (LABEL_AWSLOGS.to_string(), serde_json::to_string(&options).unwrap()),
            (LABEL_CONTAINER_NAME.to_string(), name.to_string()),
            (LABEL_TASK_ARN.to_string(), TASK_ARN.to_string()),
            (LABEL_INSTANCE_ARN.to_string(), INSTANCE_ARN.to_string()),
        ]);
        let spec =
            ContainerSpec { name: name.into(), image: "img".into(), labels: labels.clone(), ..Default::default() };
        (self.runtime.create_container(&spec).await.unwrap(), labels)
    }

    /// Creates, prepares and starts a container.
    async fn start(&self, name: &str, options: &[(&str, &str)]) -> String {
        let (id, labels) = self.create(name, options).await;
        let prepared = self.shippers.prepare(&id, &labels).await.unwrap().unwrap();
        self.runtime.start_container(&id).await.unwrap();
        prepared.started();
        id
    }

    fn write_lines(&self, id: &str, range: std::ops::Range<usize>) {
        for i in range {
            self.runtime.write_log(id, i % 7 == 0, format!("line {i}\n").as_bytes());
        }
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("line {i}")).collect()
}

const OPTIONS: [(&str, &str); 4] = [
    ("awslogs-group", "/ecs/web"),
    ("awslogs-create-group", "true"),
    ("awslogs-stream-prefix", "ecs"),
    ("awslogs-force-flush-interval-seconds", "1"),
];
const STREAM: &str = "ecs/app/0123456789abcdef";

#[tokio::test]
async fn lines_reach_their_stream_in_order_and_the_shipper_finishes_with_the_container() {
    let s = setup();
    let id = s.start("app", &OPTIONS).await;
    assert_eq!(s.sink.messages("/ecs/web", STREAM), Vec::<String>::new(), "group and stream exist before the start");
    s.write_lines(&id, 0..100);
    eventually("the first lines after the flush interval", || s.sink.messages("/ecs/web", STREAM).len() == 100).await;
    s.write_lines(&id, 100..150);
    s.runtime.write_log(&id, false, b"no newline at the end");
    s.runtime.exit(&id, 0).unwrap();
    let mut expected = numbered(0..150);
    expected.push("no newline at the end".into());
    eventually("every line once the container stopped", || s.sink.messages("/ecs/web", STREAM) == expected).await;
    eventually("a finished checkpoint", || s.shippers.ctx.state.checkpoint(&id).is_some_and(|c| c.finished)).await;
}

#[tokio::test]
async fn a_missing_group_fails_the_start_with_ecs_reason_unless_it_may_be_created() {
    let s = setup();
    let (id, labels) = s.create("app", &[("awslogs-group", "/missing"), ("awslogs-stream-prefix", "ecs")]).await;
    let error = s.shippers.prepare(&id, &labels).await.err().unwrap();
    assert!(
        error.starts_with(
            "failed to initialize logging driver: failed to create Cloudwatch log stream: \
             ResourceNotFoundException: The specified log group does not exist."
        ),
        "{error}"
    );
    assert!(s.shippers.lock().is_empty(), "a failed preparation leaves no slot");
    let (id, labels) = s.create("other", &OPTIONS).await;
    assert!(s.shippers.prepare(&id, &labels).await.unwrap().is_some());
    assert!(s.sink.groups.lock().unwrap().contains_key("/ecs/web"));
}

#[tokio::test]
async fn a_restarted_agent_resumes_from_its_checkpoint_without_loss_or_duplicates() {
    let s = setup();
    let id = s.start("app", &OPTIONS).await;
    s.write_lines(&id, 0..40);
    eventually("the first lines", || s.sink.messages("/ecs/web", STREAM).len() == 40).await;
    // The agent dies; the container writes on; the store is briefly down when the new agent starts.
    for (_, slot) in s.shippers.lock().drain() {
        if let Slot::Running(handle) = slot {
            handle.abort();
        }
    }
    s.write_lines(&id, 40..90);
    s.sink.down.store(true, Ordering::SeqCst);
    let again = s.restarted();
    again.reconcile().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    s.sink.down.store(false, Ordering::SeqCst);
    s.write_lines(&id, 90..100);
    s.runtime.exit(&id, 0).unwrap();
    eventually("every line exactly once", || s.sink.messages("/ecs/web", STREAM) == numbered(0..100)).await;
}

#[tokio::test]
async fn an_inflight_batch_is_sent_again_with_its_id_after_a_restart() {
    let s = setup();
    let (id, _) = s.create("app", &OPTIONS).await;
    s.runtime.start_container(&id).await.unwrap();
    s.write_lines(&id, 0..10);
    // A batch of the first five was sent and stored, but the agent died before it recorded the delivery.
    let path = s.runtime.inspect_container(&id).await.unwrap().unwrap().log_path.unwrap();
    let (mut log, _) = tail::Tail::open(std::path::Path::new(&path), &cursor::Checkpoint::default()).unwrap();
    let after_five = log.read(usize::MAX).unwrap().entries[4].1;
    let inflight = state::Inflight {
        batch_id: "b-1".into(),
        group: "/ecs/web".into(),
        stream: STREAM.into(),
        events: (0..5).map(|i| (1, format!("line {i}"))).collect(),
        after: Some(after_five),
    };
    sink::ensure_stream(&*s.sink, "/ecs/web", STREAM, true).await.unwrap();
    let batch = batch::Batch {
        events: inflight
            .events
            .iter()
            .map(|(t, m)| events::Event { timestamp_ms: *t, message: m.clone(), ..Default::default() })
            .collect(),
    };
    sink::put(&*s.sink, "/ecs/web", STREAM, "b-1", &batch).await.unwrap();
    s.shippers.ctx.state.save_inflight(&id, &inflight).unwrap();
    s.shippers.reconcile().await;
    s.runtime.exit(&id, 0).unwrap();
    eventually("the rest, and the first five once", || s.sink.messages("/ecs/web", STREAM) == numbered(0..10)).await;
}

#[tokio::test]
async fn non_blocking_mode_drops_the_oldest_while_the_store_is_down() {
    let s = setup();
    let mut options = OPTIONS.to_vec();
    options.extend([("mode", "non-blocking"), ("max-buffer-size", "1k")]);
    let id = s.start("app", &options).await;
    s.sink.down.store(true, Ordering::SeqCst);
    s.write_lines(&id, 0..2_000);
    s.runtime.exit(&id, 0).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    s.sink.down.store(false, Ordering::SeqCst);
    eventually("the shipper to finish", || s.shippers.ctx.state.checkpoint(&id).is_some_and(|c| c.finished)).await;
    let got = s.sink.messages("/ecs/web", STREAM);
    assert!(got.len() < 200, "at most about 1 KiB of events kept, got {}", got.len());
    assert_eq!(got.last().map(String::as_str), Some("line 1999"), "the newest are kept");
}

//! The controller on a manual clock, without real sleeps: every wait below is a manual-clock timer or a yield.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use berth_model::clock::ManualClock;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Semaphore;

/// What the scripted reconciler does for a key.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Done,
    Requeue(f64),
    Fail,
    Panic,
    /// Waits for a permit of `hold`, then is done.
    Hold,
}

struct Scripted {
    keys: Vec<String>,
    behaviour: fn(&str) -> Behaviour,
    calls: mpsc::UnboundedSender<(String, Trigger)>,
    hold: Semaphore,
    in_flight: Mutex<HashMap<String, usize>>,
    overlapped: AtomicBool,
}

impl Reconciler for Scripted {
    type Key = String;
    type Error = String;

    fn keys(&self) -> Vec<String> {
        self.keys.clone()
    }

    async fn reconcile(&self, key: String, trigger: Trigger) -> Result<Action, String> {
        self.calls.send((key.clone(), trigger)).unwrap();
        {
            let mut in_flight = self.in_flight.lock().unwrap();
            let n = in_flight.entry(key.clone()).or_default();
            *n += 1;
            if *n > 1 {
                self.overlapped.store(true, Ordering::SeqCst);
            }
        }
        let outcome = match (self.behaviour)(&key) {
            Behaviour::Done => Ok(Action::await_change()),
            Behaviour::Requeue(s) => Ok(Action::requeue(s)),
            Behaviour::Fail => Err(format!("{key} failed")),
            Behaviour::Panic => panic!("{key} panicked on purpose"),
            Behaviour::Hold => {
                self.hold.acquire().await.unwrap().forget();
                Ok(Action::await_change())
            }
        };
        *self.in_flight.lock().unwrap().entry(key).or_default() -= 1;
        outcome
    }
}

struct Harness {
    clock: Arc<ManualClock>,
    source: watch::Sender<i64>,
    calls: mpsc::UnboundedReceiver<(String, Trigger)>,
    reconciler: Arc<Scripted>,
}

impl Harness {
    fn new(keys: &[&str], behaviour: fn(&str) -> Behaviour) -> (Self, Controller<Scripted>) {
        let clock = Arc::new(ManualClock::new(1_000.0));
        let (source, rx) = watch::channel(1);
        let (tx, calls) = mpsc::unbounded_channel();
        let reconciler = Arc::new(Scripted {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            behaviour,
            calls: tx,
            hold: Semaphore::new(0),
            in_flight: Mutex::default(),
            overlapped: AtomicBool::new(false),
        });
        let controller = Controller::new("test", reconciler.clone(), clock.clone(), rx);
        (Self { clock, source, calls, reconciler }, controller)
    }

    /// Lets every task on this (single-threaded) runtime run until it waits.
    async fn settle(&self) {
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
    }

    /// Advances the clock and settles.
    async fn advance(&self, seconds: f64) {
        self.clock.advance(seconds);
        self.settle().await;
    }

    /// The reconciles started since the last look.
    fn calls(&mut self) -> Vec<(String, Trigger)> {
        let mut out = Vec::new();
        while let Ok(call) = self.calls.try_recv() {
            out.push(call);
        }
        out
    }
}

fn call(key: &str, trigger: Trigger) -> (String, Trigger) {
    (key.to_string(), trigger)
}

#[tokio::test]
async fn a_key_runs_once_at_a_time_and_once_more_if_triggered_meanwhile() {
    let (mut h, controller) = Harness::new(&["slow"], |_| Behaviour::Hold);
    let handle = controller.handle();
    tokio::spawn(controller.run());
    h.settle().await;
    assert_eq!(h.calls(), [call("slow", Trigger::Startup)]);
    // Three changes and two requests while it runs: no second concurrent run.
    for revision in 2..=4 {
        h.source.send_replace(revision);
        h.settle().await;
    }
    handle.request("slow".into(), 4);
    handle.request("slow".into(), 4);
    h.settle().await;
    assert_eq!(h.calls(), []);
    // When it finishes, it runs exactly once more (for the first trigger that came meanwhile).
    h.reconciler.hold.add_permits(1);
    h.settle().await;
    assert_eq!(h.calls(), [call("slow", Trigger::Change { revision: 2 })]);
    h.reconciler.hold.add_permits(1);
    h.settle().await;
    assert_eq!(h.calls(), [], "nothing came in during the second run");
    assert!(!h.reconciler.overlapped.load(Ordering::SeqCst), "two reconciles of one key overlapped");
}

#[tokio::test]
async fn requeue_after_runs_the_key_again_on_the_clock() {
    let (mut h, controller) = Harness::new(&["tick"], |_| Behaviour::Requeue(5.0));
    tokio::spawn(controller.run());
    h.settle().await;
    assert_eq!(h.calls(), [call("tick", Trigger::Startup)]);
    for _ in 0..3 {
        h.advance(4.9).await;
        assert_eq!(h.calls(), [], "not before 5 s");
        h.advance(0.1).await;
        assert_eq!(h.calls(), [call("tick", Trigger::Requeue)]);
    }
}

#[tokio::test]
async fn errors_back_off_exponentially_up_to_the_cap_and_changes_do_not_bypass_it() {
    let (mut h, controller) = Harness::new(&["bad"], |_| Behaviour::Fail);
    tokio::spawn(controller.with_backoff(Backoff { initial: 1.0, max: 4.0 }).run());
    h.settle().await;
    assert_eq!(h.calls(), [call("bad", Trigger::Startup)]);
    let mut revision = 1;
    for (failures, delay) in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 4.0), (5, 4.0)] {
        h.advance(delay - 0.01).await;
        revision += 1;
        h.source.send_replace(revision);
        h.settle().await;
        assert_eq!(h.calls(), [], "retry #{failures} came before its {delay} s backoff");
        h.advance(0.01).await;
        assert_eq!(h.calls(), [call("bad", Trigger::Retry { failures })]);
    }
}

#[tokio::test]
async fn a_panicking_key_does_not_stop_the_others() {
    let (mut h, controller) =
        Harness::new(&["boom", "ok"], |k| if k == "boom" { Behaviour::Panic } else { Behaviour::Requeue(1.0) });
    tokio::spawn(controller.with_backoff(Backoff { initial: 1.0, max: 60.0 }).run());
    h.settle().await;
    let mut first = h.calls();
    first.sort_by_key(|(k, _)| k.clone());
    assert_eq!(first, [call("boom", Trigger::Startup), call("ok", Trigger::Startup)]);
    // The panic is an error for "boom" alone: it is retried with backoff (1 s, 2 s, ...) while "ok" runs every second.
    let mut boom_retries = Vec::new();
    let mut ok_runs = 0;
    for _ in 0..7 {
        h.advance(1.0).await;
        for (key, trigger) in h.calls() {
            match key.as_str() {
                "ok" => {
                    assert_eq!(trigger, Trigger::Requeue);
                    ok_runs += 1;
                }
                _ => boom_retries.push(trigger),
            }
        }
    }
    assert_eq!(ok_runs, 7);
    assert_eq!(
        boom_retries,
        [Trigger::Retry { failures: 1 }, Trigger::Retry { failures: 2 }, Trigger::Retry { failures: 3 }]
    );
}

#[tokio::test]
async fn reconciles_run_only_while_the_leader_gate_is_open() {
    let (gate_tx, gate) = watch::channel(false);
    let (mut h, controller) = Harness::new(&["a"], |_| Behaviour::Requeue(1.0));
    let handle = controller.handle();
    tokio::spawn(controller.with_gate(gate).run());
    h.settle().await;
    h.source.send_replace(2);
    handle.request("a".into(), 2);
    h.advance(5.0).await;
    assert_eq!(h.calls(), [], "a follower reconciles nothing");
    gate_tx.send_replace(true);
    h.settle().await;
    assert_eq!(h.calls().len(), 1, "the new leader looks at the key once");
    h.advance(1.0).await;
    assert_eq!(h.calls(), [call("a", Trigger::Requeue)]);
    // Leadership lost: the requeue timer comes due but nothing runs.
    gate_tx.send_replace(false);
    h.advance(3.0).await;
    assert_eq!(h.calls(), []);
    gate_tx.send_replace(true);
    h.settle().await;
    assert_eq!(h.calls(), [call("a", Trigger::Requeue)], "the due key runs once when leadership returns");
    // A gate whose sender is gone counts as closed.
    drop(gate_tx);
    h.advance(2.0).await;
    assert_eq!(h.calls(), []);
}

/// Records the fence each reconcile ran under.
struct FenceProbe(mpsc::UnboundedSender<Option<i64>>);

impl Reconciler for FenceProbe {
    type Key = String;
    type Error = String;

    fn keys(&self) -> Vec<String> {
        vec!["k".into()]
    }

    async fn reconcile(&self, _key: String, _trigger: Trigger) -> Result<Action, String> {
        self.0.send(berth_store::leader::current_fence()).unwrap();
        Ok(Action::requeue(1.0))
    }
}

#[tokio::test]
async fn under_a_leadership_reconciles_run_while_it_leads_fenced_with_its_term() {
    use berth_store::leader::{Leadership, Term};
    let clock = Arc::new(ManualClock::new(1_000.0));
    let (_source, rx) = watch::channel(1);
    let (term_tx, term) = watch::channel(None);
    let leadership = Leadership::new(term, |_| {});
    let (tx, mut fences) = mpsc::unbounded_channel();
    let controller =
        Controller::new("fenced", Arc::new(FenceProbe(tx)), clock.clone(), rx).with_leadership(&leadership);
    tokio::spawn(controller.run());
    let settle = || async {
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
    };
    settle().await;
    assert!(fences.try_recv().is_err(), "a follower reconciles nothing");
    term_tx.send_replace(Some(Term { token: 41 }));
    settle().await;
    assert_eq!(fences.try_recv().ok(), Some(Some(41)), "the leader's reconcile carries its token");
    // A new term (lost and won again): the next reconcile carries the new token.
    term_tx.send_replace(None);
    settle().await;
    term_tx.send_replace(Some(Term { token: 57 }));
    settle().await;
    clock.advance(1.0);
    settle().await;
    let seen: Vec<Option<i64>> = std::iter::from_fn(|| fences.try_recv().ok()).collect();
    assert!(!seen.is_empty() && seen.iter().all(|f| *f == Some(57)), "{seen:?}");
    // Leadership ends: nothing runs any more.
    term_tx.send_replace(None);
    settle().await;
    clock.advance(5.0);
    settle().await;
    assert!(fences.try_recv().is_err());
}

#[tokio::test]
async fn a_requested_reconcile_sees_at_least_its_revision_or_fails_after_the_timeout() {
    let (mut h, controller) = Harness::new(&[], |_| Behaviour::Done);
    let handle = controller.handle();
    tokio::spawn(controller.with_wait_timeout(2.0).with_backoff(Backoff { initial: 1.0, max: 1.0 }).run());
    handle.request("r".into(), 5);
    h.settle().await;
    assert_eq!(h.calls(), [], "the source is at 1; the reconcile waits for 5");
    h.source.send_replace(5);
    h.settle().await;
    assert_eq!(h.calls(), [call("r", Trigger::Requested { revision: 5 })]);
    // Revision 9 never comes within the 2 s timeout: that attempt fails and is retried after the backoff.
    handle.request("r".into(), 9);
    h.settle().await;
    h.advance(1.99).await;
    assert_eq!(h.calls(), []);
    h.advance(0.01).await;
    h.source.send_replace(9);
    h.settle().await;
    assert_eq!(h.calls(), [], "the retry waits for its backoff");
    h.advance(1.0).await;
    assert_eq!(h.calls(), [call("r", Trigger::Retry { failures: 1 })]);
}

#[tokio::test]
async fn a_resync_looks_at_every_key_again() {
    let (mut h, controller) = Harness::new(&["a", "b"], |_| Behaviour::Done);
    tokio::spawn(controller.with_resync(30.0).run());
    h.settle().await;
    assert_eq!(h.calls().len(), 2);
    h.advance(29.9).await;
    assert_eq!(h.calls(), [], "a done key waits for a change");
    h.advance(0.1).await;
    let mut calls = h.calls();
    calls.sort_by_key(|(k, _)| k.clone());
    assert_eq!(calls, [call("a", Trigger::Resync), call("b", Trigger::Resync)]);
}

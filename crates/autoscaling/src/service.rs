//! [`Scaling`]: the service, its link to the control plane and to CloudWatch, and its background controller.

use crate::ScalingError;
use berth_control::Control;
use berth_metrics::{AlarmEvent, Metrics};
use berth_model::clock::Clock;
use berth_store::SharedStore;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The service's settings.
#[derive(Debug, Clone)]
pub struct ScalingConfig {
    /// The region in ARNs.
    pub region: String,
    /// The account in ARNs.
    pub account_id: String,
    /// How often scheduled actions are looked at (Application Auto Scaling: every minute).
    pub evaluate_every: Duration,
    /// How many 1-minute datapoints a target tracking policy's alarms need: above the target to scale out (AWS: 3)
    /// and below 90% of it to scale in (AWS: 15). Fewer make scaling react sooner (tests, impatient operators);
    /// they apply to policies put after the change.
    pub target_tracking_datapoints: TrackingDatapoints,
}

/// The datapoints of target tracking's alarms (see [`ScalingConfig::target_tracking_datapoints`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackingDatapoints {
    /// AlarmHigh's evaluation periods (and datapoints to alarm).
    pub high: u32,
    /// AlarmLow's.
    pub low: u32,
}

impl Default for TrackingDatapoints {
    fn default() -> Self {
        Self { high: 3, low: 15 }
    }
}

impl ScalingConfig {
    /// Defaults for a region and account.
    pub fn new(region: &str, account_id: &str) -> Self {
        Self {
            region: region.to_string(),
            account_id: account_id.to_string(),
            evaluate_every: Duration::from_secs(60),
            target_tracking_datapoints: TrackingDatapoints::default(),
        }
    }
}

/// Application Auto Scaling for ECS services, on one store, control plane and metric store.
pub struct Scaling {
    pub(crate) store: SharedStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) control: Arc<Control>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) config: ScalingConfig,
    /// Alarm events waiting for the controller.
    pub(crate) events: Mutex<VecDeque<AlarmEvent>>,
    /// Serializes every write (API and controller), so read-modify-write of a record is never interleaved.
    pub(crate) writes: tokio::sync::Mutex<()>,
    /// The newest datapoint (its minute) each target tracking policy acted on, by policy ARN and direction (true:
    /// out): one action per datapoint and direction (in memory: after a restart a policy may act once more on the
    /// minute it last acted on).
    pub(crate) acted_on: Mutex<std::collections::HashMap<(String, bool), f64>>,
    /// Orders activities recorded in the same millisecond.
    pub(crate) activity_seq: std::sync::atomic::AtomicU64,
    handle: Mutex<Option<berth_runtime::Handle<&'static str>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Scaling {
    /// The newest datapoint minute `policy_arn` acted on in a direction (`out`: scale-out, else scale-in).
    pub(crate) fn acted_on(&self, policy_arn: &str, out: bool) -> Option<f64> {
        self.acted_on.lock().unwrap_or_else(|p| p.into_inner()).get(&(policy_arn.to_string(), out)).copied()
    }

    /// Records that `policy_arn` acted in a direction on the datapoint of `minute`.
    pub(crate) fn set_acted_on(&self, policy_arn: &str, out: bool, minute: f64) {
        self.acted_on.lock().unwrap_or_else(|p| p.into_inner()).insert((policy_arn.to_string(), out), minute);
    }

    /// The service; registers itself as `metrics`' alarm hook (Auto Scaling policy ARNs come here).
    pub fn new(
        config: ScalingConfig,
        store: SharedStore,
        clock: Arc<dyn Clock>,
        control: Arc<Control>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let scaling = Arc::new(Self {
            store,
            clock,
            control,
            metrics: metrics.clone(),
            config,
            events: Mutex::default(),
            writes: tokio::sync::Mutex::new(()),
            acted_on: Mutex::default(),
            activity_seq: std::sync::atomic::AtomicU64::new(0),
            handle: Mutex::default(),
            tasks: Mutex::default(),
        });
        let weak: Weak<Self> = Arc::downgrade(&scaling);
        metrics.set_alarm_hook(Arc::new(move |event: &AlarmEvent| {
            if let Some(scaling) = weak.upgrade() {
                scaling.on_alarm(event);
            }
        }));
        scaling
    }

    /// Calls an operation with its input as JSON (the shapes of `berth_model::autoscaling`); its output as JSON.
    pub async fn call(&self, operation: &str, input: &[u8]) -> Result<Vec<u8>, ScalingError> {
        crate::ops::dispatch(self, operation, input).await
    }

    /// Takes an alarm's due actions: those naming Auto Scaling policies are queued for the controller.
    pub fn on_alarm(&self, event: &AlarmEvent) {
        if !event.actions.iter().any(|a| berth_metrics::alarms::hook::is_autoscaling(a)) {
            return;
        }
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push_back(event.clone());
        if let Some(handle) = self.handle.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            handle.request(crate::controller::ALARMS, 0);
        }
    }

    /// Runs due scheduled actions now (what the controller does every [`ScalingConfig::evaluate_every`]). A summary.
    pub async fn run_schedules(&self) -> Result<String, ScalingError> {
        crate::controller::run_schedules(self).await
    }

    /// Handles every queued alarm event now (what the controller does when the hook queues one). A summary.
    pub async fn run_alarms(&self) -> Result<String, ScalingError> {
        crate::controller::run_alarms(self).await
    }

    /// Starts the scaling controller on the runtime.
    pub fn spawn_background(self: &Arc<Self>) {
        let controller = crate::controller::controller(self);
        *self.handle.lock().unwrap_or_else(|p| p.into_inner()) = Some(controller.handle());
        let task = tokio::spawn(controller.run());
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }

    /// An ARN of this service's region and account.
    pub(crate) fn arn(&self, service: &str, resource: &str) -> String {
        format!("arn:aws:{service}:{}:{}:{resource}", self.config.region, self.config.account_id)
    }
}

impl Drop for Scaling {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }
}

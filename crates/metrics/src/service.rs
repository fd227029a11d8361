//! [`Metrics`]: the service, its write path for in-process writers, and its background jobs.

use crate::MetricsError;
use crate::alarms::hook::{AlarmEvent, AlarmHook};
use crate::alarms::record::Alarms;
use crate::points::{Limits, Point, PointStore};
use crate::series::{Bucket, SeriesKey};
use berth_model::clock::Clock;
use berth_model::cloudwatch::{StandardUnit, StateValue};
use berth_store::SharedStore;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Where and how the service keeps its data.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// The series store's directory (`<data-dir>/metrics`).
    pub dir: PathBuf,
    /// The region in ARNs.
    pub region: String,
    /// The account in ARNs.
    pub account_id: String,
    /// The series store's bounds.
    pub limits: Limits,
    /// How often alarms are evaluated (CloudWatch: every minute).
    pub evaluate_every: Duration,
    /// How often old buckets are dropped and the file synced and compacted.
    pub maintain_every: Duration,
}

impl MetricsConfig {
    /// Defaults for a data dir, region and account.
    pub fn new(dir: PathBuf, region: &str, account_id: &str) -> Self {
        Self {
            dir,
            region: region.to_string(),
            account_id: account_id.to_string(),
            limits: Limits::default(),
            evaluate_every: Duration::from_secs(60),
            maintain_every: Duration::from_secs(60),
        }
    }
}

/// CloudWatch metrics and alarms on one store and data dir.
pub struct Metrics {
    pub(crate) points: PointStore,
    pub(crate) alarms: Alarms,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: MetricsConfig,
    hook: RwLock<Option<Arc<dyn AlarmHook>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Metrics {
    /// Opens the series store under `config.dir` (replaying its file); alarms live in `store`.
    pub async fn open(
        config: MetricsConfig,
        store: SharedStore,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, MetricsError> {
        let (dir, limits) = (config.dir.clone(), config.limits);
        let points = tokio::task::spawn_blocking(move || PointStore::open(&dir, limits))
            .await
            .map_err(|e| MetricsError::internal(&e))??;
        Ok(Arc::new(Self {
            points,
            alarms: Alarms::new(store),
            clock,
            config,
            hook: RwLock::new(None),
            tasks: Mutex::default(),
        }))
    }

    /// Calls a CloudWatch operation with its input as JSON (the shapes of `berth_model::cloudwatch`); its output
    /// as JSON. The API crate translates CBOR and the query protocol to and from this.
    pub async fn call(&self, operation: &str, input: &[u8]) -> Result<Vec<u8>, MetricsError> {
        crate::ops::dispatch(self, operation, input).await
    }

    /// Records one value, as PutMetricData would with `Value` (for in-process writers: the control plane's
    /// `AWS/ECS` series). Unlike PutMetricData it may write `AWS/` namespaces.
    pub fn put(
        &self,
        namespace: &str,
        name: &str,
        dimensions: &[(&str, &str)],
        timestamp: f64,
        value: f64,
        unit: Option<StandardUnit>,
    ) -> Result<(), MetricsError> {
        crate::ops::put::check_namespace(namespace, false)?;
        if !value.is_finite() || !timestamp.is_finite() {
            return Err(MetricsError::invalid("values and timestamps must be finite numbers"));
        }
        let dims = dimensions.iter().map(|(n, v)| ((*n).to_string(), (*v).to_string())).collect();
        let point = Point {
            key: SeriesKey::new(namespace, name, dims),
            minute: (timestamp / 60.0).floor() as i64,
            bucket: Bucket::of(value, 1.0),
            unit: unit.map(|u| u.as_str().to_string()),
            sketch: Some(crate::sketch::Sketch::of(value, 1.0)),
        };
        crate::ops::blocking(|| self.points.add(&[point], self.clock.now()))
    }

    /// Registers the hook alarm actions go to (replacing any before it).
    pub fn set_alarm_hook(&self, hook: Arc<dyn AlarmHook>) {
        *self.hook.write().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    pub(crate) fn fire(&self, event: Option<&AlarmEvent>) {
        let Some(event) = event else { return };
        tracing::info!(alarm = %event.alarm_name, state = %event.new_state, actions = ?event.actions, repeat = event.repeat, "alarm actions due");
        let hook = self.hook.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(hook) = hook {
            hook.on_alarm(event);
        }
    }

    /// An alarm's ARN.
    pub fn alarm_arn(&self, name: &str) -> String {
        format!("arn:aws:cloudwatch:{}:{}:alarm:{name}", self.config.region, self.config.account_id)
    }

    /// Each named alarm's StateValue, `None` for a name no alarm has (what ECS deployment alarms watch).
    pub async fn alarm_states(&self, names: &[String]) -> Result<Vec<(String, Option<StateValue>)>, MetricsError> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let state =
                self.alarms.get(name).await?.map(|r| r.alarm.state_value.unwrap_or(StateValue::InsufficientData));
            out.push((name.clone(), state));
        }
        Ok(out)
    }

    /// The longest evaluation range (`Period` × `EvaluationPeriods`, in seconds) of the named alarms that exist; 0
    /// when none does.
    pub async fn alarm_evaluation_seconds(&self, names: &[String]) -> Result<f64, MetricsError> {
        let mut longest = 0.0f64;
        for name in names {
            if let Some(record) = self.alarms.get(name).await? {
                let period = f64::from(record.alarm.period.unwrap_or(0).max(0));
                let periods = f64::from(record.alarm.evaluation_periods.unwrap_or(1).max(1));
                longest = longest.max(period * periods);
            }
        }
        Ok(longest)
    }

    /// How often the background job evaluates every alarm ([`MetricsConfig::evaluate_every`]).
    pub fn evaluation_interval(&self) -> Duration {
        self.config.evaluate_every
    }

    /// Evaluates every alarm now (what the controller runs every [`MetricsConfig::evaluate_every`]). A summary.
    pub async fn evaluate_alarms(&self) -> Result<String, MetricsError> {
        crate::ops::alarms::evaluate_all(self).await
    }

    /// Drops data past retention, syncs and compacts the series file. A summary.
    pub fn maintain(&self) -> Result<String, MetricsError> {
        self.points.compact(self.clock.now())
    }

    /// How many series and 1-minute buckets the store holds.
    pub fn size(&self) -> (usize, usize) {
        self.points.size()
    }

    /// Starts alarm evaluation and maintenance on the runtime.
    pub fn spawn_background(self: &Arc<Self>) {
        for controller in crate::background::controllers(self) {
            let handle = tokio::spawn(controller.run());
            self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
        }
    }
}

impl Drop for Metrics {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }
}

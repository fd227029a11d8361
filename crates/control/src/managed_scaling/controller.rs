//! The managed scaling controller: on `berth_runtime` (behind its leader gate, like the other controllers), one
//! timer key that every [`PUBLISH_SECONDS`] computes each managed provider's CapacityProviderReservation and hands it
//! to the [`ReservationSink`] the server set (Berth's CloudWatch store, namespace `AWS/ECS/ManagedScaling`), and one
//! key that places the tasks waiting for capacity (`waiting`), looked at on every cache change while some wait, and
//! one that scales node groups through their node providers every `managed_scaling_interval` (`node_groups`).

use super::reservation::{ProviderReservation, reservations};
use super::waiting::waiting_keys;
use crate::{Control, ControlError, Result};
use berth_runtime::{Action, Controller, Reconciler, Trigger};
use std::fmt;
use std::sync::Arc;

/// How often the reservation is published, in seconds (ECS publishes it every minute; Berth's store keeps
/// per-minute aggregates, so several samples make up each minute).
pub const PUBLISH_SECONDS: f64 = 15.0;

/// How often tasks waiting for capacity are looked at without a change to trigger it, in seconds.
pub const WAITING_RETRY_SECONDS: f64 = 5.0;

/// CloudWatch's namespace for the metric.
pub const NAMESPACE: &str = "AWS/ECS/ManagedScaling";

/// The metric's name.
pub const METRIC: &str = "CapacityProviderReservation";

/// Where reservations go (the server wires Berth's CloudWatch store).
pub trait ReservationSink: Send + Sync {
    /// Records one provider's reservation at `now` (seconds since the epoch).
    fn publish(&self, point: &ProviderReservation, now: f64) -> std::result::Result<(), String>;
}

/// What one reconcile of the managed scaling controller is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScalingKey {
    /// Publishing every managed provider's reservation.
    Publish,
    /// Placing the tasks that wait for capacity (looked at whenever the cache changes while some wait).
    Waiting,
    /// Scaling node groups through their node providers.
    Scale,
}

impl fmt::Display for ScalingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalingKey::Publish => f.write_str("publish"),
            ScalingKey::Waiting => f.write_str("waiting"),
            ScalingKey::Scale => f.write_str("scale"),
        }
    }
}

/// The managed scaling controller's [`Reconciler`].
pub struct ManagedScaling {
    control: Arc<Control>,
}

impl Reconciler for ManagedScaling {
    type Key = ScalingKey;
    type Error = ControlError;

    fn keys(&self) -> Vec<ScalingKey> {
        vec![ScalingKey::Publish, ScalingKey::Waiting, ScalingKey::Scale]
    }

    fn changed_keys(&self, _revision: i64) -> Vec<ScalingKey> {
        if waiting_keys(&self.control.cache.read()).is_empty() { Vec::new() } else { vec![ScalingKey::Waiting] }
    }

    async fn reconcile(&self, key: ScalingKey, _trigger: Trigger) -> Result<Action> {
        match key {
            ScalingKey::Publish => {
                self.control.publish_reservations();
                Ok(Action::requeue(PUBLISH_SECONDS))
            }
            ScalingKey::Waiting => {
                self.control.place_waiting_tasks().await?;
                // Capacity also frees up without a write (an agent reconnecting): look again now and then.
                Ok(Action::requeue(WAITING_RETRY_SECONDS))
            }
            ScalingKey::Scale => {
                self.control.scale_node_groups().await?;
                self.control.replace_daemon_hosts().await?;
                Ok(Action::requeue(self.control.config.managed_scaling_interval.as_secs_f64()))
            }
        }
    }
}

impl Control {
    /// Sets where CapacityProviderReservation goes (once; later calls are ignored). Without it the controller
    /// computes nothing.
    pub fn set_reservation_sink(&self, sink: Arc<dyn ReservationSink>) {
        let _ = self.reservation_sink.set(sink);
    }

    /// Computes every managed provider's reservation and publishes it; returns what it computed.
    pub fn publish_reservations(&self) -> Vec<ProviderReservation> {
        let Some(sink) = self.reservation_sink.get() else {
            return Vec::new();
        };
        let now = self.now();
        let points = reservations(&self.cache.read());
        for point in &points {
            if let Err(error) = sink.publish(point, now) {
                tracing::warn!(%error, cluster = %point.cluster, provider = %point.provider,
                    "cannot record CapacityProviderReservation");
            }
        }
        points
    }
}

/// The managed scaling controller on `control`'s cache and clock.
pub fn controller(control: Arc<Control>) -> Controller<ManagedScaling> {
    let source = control.cache.subscribe();
    let clock = control.clock.clone();
    Controller::new("managed-scaling", Arc::new(ManagedScaling { control }), clock, source)
}

/// Runs the controller until the cache stops.
pub async fn run(control: Arc<Control>) {
    controller(control).run().await;
}

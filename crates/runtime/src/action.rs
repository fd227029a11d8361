//! What a reconcile asks of the runtime when it succeeds.

/// The outcome of a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Action {
    /// Reconcile this key again after this many seconds (on the controller's clock), even if nothing changes;
    /// `None` waits for the next trigger.
    pub requeue_after: Option<f64>,
}

impl Action {
    /// Nothing more to do until something triggers the key again.
    pub fn await_change() -> Self {
        Self { requeue_after: None }
    }

    /// Look at the key again after `seconds`.
    pub fn requeue(seconds: f64) -> Self {
        Self { requeue_after: Some(seconds) }
    }
}

//! The alarm action hook: how other features (Service Auto Scaling) learn that an alarm's actions are due.

use berth_model::cloudwatch::StateValue;

/// An alarm's actions to run.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmEvent {
    /// The alarm's name.
    pub alarm_name: String,
    /// The alarm's ARN.
    pub alarm_arn: String,
    /// The state before.
    pub old_state: StateValue,
    /// The state now.
    pub new_state: StateValue,
    /// The action ARNs of the new state (`AlarmActions` for ALARM, `OKActions` for OK,
    /// `InsufficientDataActions` for INSUFFICIENT_DATA).
    pub actions: Vec<String>,
    /// False on a state change; true when the alarm stays in its state and only its Application Auto Scaling
    /// actions (`arn:aws:autoscaling:...`) are repeated, as CloudWatch repeats them on every evaluation.
    pub repeat: bool,
}

/// Runs alarm actions. Registered with [`crate::Metrics::set_alarm_hook`]; called (from the evaluation controller
/// or SetAlarmState) for every state change of an alarm whose actions are enabled, and again on every evaluation
/// that keeps an alarm in a state with Auto Scaling actions. It must not block: hand the work to a task.
pub trait AlarmHook: Send + Sync + 'static {
    /// The alarm's actions are due.
    fn on_alarm(&self, event: &AlarmEvent);
}

impl<F: Fn(&AlarmEvent) + Send + Sync + 'static> AlarmHook for F {
    fn on_alarm(&self, event: &AlarmEvent) {
        self(event)
    }
}

/// Whether an action ARN is an Application Auto Scaling policy's (its actions repeat while the state lasts).
pub fn is_autoscaling(arn: &str) -> bool {
    arn.starts_with("arn:aws:autoscaling:")
}

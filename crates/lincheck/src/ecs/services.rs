//! Each service's desiredCount as a register, one sub-history per service.
//!
//! Assumes that only the recorded calls change a service's desiredCount (no Application Auto Scaling on it, no
//! DeleteService) and that a service not created in the history existed, with some count, before it began.
//! CreateService creates it with its count (and succeeds only if it did not exist: record a retried CreateService,
//! with its client token, as one call); UpdateService with a desiredCount sets it (and succeeds only on an existing
//! service); DescribeServices reads it, or finds it MISSING. UpdateService calls without a desiredCount and
//! DescribeServices calls that never answered change and show nothing here, and are left out.

use super::{Call, Reply};
use crate::history::{History, Operation};
use crate::model::{Model, Partition};
use std::collections::BTreeMap;
use std::fmt;

/// The desiredCount register of [`Services`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceState {
    /// Not created in the history: it existed before with a count no read has shown yet (or did not exist).
    Unknown,
    /// Does not exist.
    Missing,
    /// Exists with this desiredCount.
    Count(u32),
}

/// The model of services' desired counts; see the module's documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Services;

/// Why [`Services`] refuses an operation.
enum Refusal {
    Stale { read: u32, current: u32 },
    FoundBeforeCreate { read: u32 },
    MissingAfterCreate { current: u32 },
    CreatedTwice { current: u32 },
    UpdatedBeforeCreate,
    NotAServiceCall,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stale { read, current } => write!(
                f,
                "DescribeServices saw desiredCount {read}, but the writes placed before it leave {current}: a stale \
                 read, a value never written, or a lost write"
            ),
            Self::FoundBeforeCreate { read } => {
                write!(f, "DescribeServices saw desiredCount {read} before any CreateService of it took effect")
            }
            Self::MissingAfterCreate { current } => {
                write!(f, "DescribeServices found it MISSING after it existed (desiredCount {current})")
            }
            Self::CreatedTwice { current } => {
                write!(f, "CreateService succeeded on a service that already existed (desiredCount {current})")
            }
            Self::UpdatedBeforeCreate => write!(f, "UpdateService succeeded before the service existed"),
            Self::NotAServiceCall => write!(f, "the answer does not fit the call"),
        }
    }
}

/// The state after `input` answered `output` (`None`: never answered, had it taken effect).
fn apply(state: ServiceState, input: &Call, output: Option<&Reply>) -> Result<ServiceState, Refusal> {
    use ServiceState::{Count, Missing, Unknown};
    match (input, output) {
        (Call::CreateService { desired_count, .. }, None | Some(Reply::Done)) => match state {
            Unknown | Missing => Ok(Count(*desired_count)),
            Count(current) => Err(Refusal::CreatedTwice { current }),
        },
        (Call::UpdateService { desired_count, .. }, None | Some(Reply::Done)) => match (state, desired_count) {
            (Missing, _) => Err(Refusal::UpdatedBeforeCreate),
            (_, Some(count)) => Ok(Count(*count)),
            (state, None) => Ok(state),
        },
        (Call::DescribeServices { .. }, None) => Ok(state),
        (Call::DescribeServices { .. }, Some(Reply::Services(reads))) => {
            reads.iter().try_fold(state, |state, read| match (state, read.desired_count) {
                (Unknown, seen) => Ok(seen.map_or(Missing, Count)),
                (Missing, None) => Ok(Missing),
                (Missing, Some(read)) => Err(Refusal::FoundBeforeCreate { read }),
                (Count(current), None) => Err(Refusal::MissingAfterCreate { current }),
                (Count(current), Some(read)) if read == current => Ok(state),
                (Count(current), Some(read)) => Err(Refusal::Stale { read, current }),
            })
        }
        _ => Err(Refusal::NotAServiceCall),
    }
}

impl Model for Services {
    const NAME: &'static str = "services (desiredCount per service)";
    type State = ServiceState;
    type Input = Call;
    type Output = Reply;

    fn init() -> ServiceState {
        ServiceState::Missing
    }

    fn step(state: &ServiceState, input: &Call, output: &Reply) -> Option<ServiceState> {
        apply(*state, input, Some(output)).ok()
    }

    fn step_pending(state: &ServiceState, input: &Call) -> Option<ServiceState> {
        apply(*state, input, None).ok()
    }

    fn explain(state: &ServiceState, input: &Call, output: &Reply) -> String {
        match apply(*state, input, Some(output)) {
            Err(refusal) => refusal.to_string(),
            Ok(_) => "allowed".to_string(),
        }
    }

    /// One sub-history per `cluster/service`; a DescribeServices of several services is projected onto each.
    fn partition(history: &History<Call, Reply>) -> Vec<Partition<Self>> {
        let mut by_key: BTreeMap<String, Vec<Operation<Call, Reply>>> = BTreeMap::new();
        for op in &history.ops {
            match (&op.input, op.output()) {
                (Call::CreateService { cluster, service, .. }, _)
                | (Call::UpdateService { cluster, service, desired_count: Some(_) }, _) => {
                    by_key.entry(key(cluster, service)).or_default().push(op.clone());
                }
                (Call::DescribeServices { cluster, services }, Some(Reply::Services(reads))) => {
                    for service in dedup(services) {
                        let mine: Vec<_> = reads.iter().filter(|read| &read.service == service).cloned().collect();
                        if mine.is_empty() {
                            continue; // the answer says nothing about it
                        }
                        let input =
                            Call::DescribeServices { cluster: cluster.clone(), services: vec![service.clone()] };
                        by_key
                            .entry(key(cluster, service))
                            .or_default()
                            .push(op.project(input, Some(Reply::Services(mine))));
                    }
                }
                (Call::DescribeServices { cluster, services }, Some(_)) => {
                    for service in dedup(services) {
                        by_key.entry(key(cluster, service)).or_default().push(op.clone());
                    }
                }
                _ => {}
            }
        }
        by_key
            .into_iter()
            .map(|(key, ops)| {
                let created = ops.iter().any(|op| matches!(op.input, Call::CreateService { .. }));
                let init = if created { ServiceState::Missing } else { ServiceState::Unknown };
                Partition { key, init, ops }
            })
            .collect()
    }
}

fn key(cluster: &str, service: &str) -> String {
    format!("{cluster}/{service}")
}

/// The names, each once, in first-seen order.
fn dedup(names: &[String]) -> Vec<&String> {
    let mut seen = std::collections::HashSet::new();
    names.iter().filter(|name| seen.insert(name.as_str())).collect()
}

//! # berth-scheduler: ECS task placement as a pure, indexed engine
//!
//! ## Background
//!
//! When ECS runs a task on EC2 capacity it (1) keeps the container instances that have the CPU, memory and
//! ports the task needs, (2) keeps those that satisfy the placement constraints, (3) ranks them by the
//! placement strategies and (4) picks the best. Constraints are binding; strategies are a preference.
//!
//! - Constraints (at most 10): `distinctInstance` (no two tasks of the group on one instance) and
//!   `memberOf` with a [cluster query language](expr) expression such as
//!   `attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d`.
//! - Strategies (at most 5, applied in order, each breaking the previous one's ties): `binpack` on `cpu` or
//!   `memory` (the instance with the least remaining that still fits), `spread` over `instanceId`/`host` or
//!   `attribute:NAME` (the value with the fewest tasks of the same group), and `random`.
//! - Failures come back per instance with ECS's reasons: `RESOURCE:CPU`, `RESOURCE:MEMORY`,
//!   `RESOURCE:PORTS`, `RESOURCE:PORTS_UDP`, `AGENT`, `ATTRIBUTE`, `INACTIVE`, `DRAINING`.
//! - Fargate capacity also accounts ephemeral storage: an instance may carry a storage amount
//!   ([`Resources::ephemeral_storage_gib`]) that FARGATE tasks' demands take from; an instance without one, and a
//!   demand of none (every EC2 task), skip the check. Its failure, `RESOURCE:EPHEMERAL_STORAGE`, is Berth's: only
//!   a Fargate capacity failure's detail shows it.
//!
//! This crate is that pipeline as a pure function of (cluster state, demand): no I/O, no async, no clock.
//! The control plane keeps one [`ClusterState`] per cluster, fed from its store cache, and asks it to
//! [`place`](ClusterState::place) tasks; it then commits the result to the store (optimistically, retrying on
//! conflict) and tells the state about later changes ([`ClusterState::release`],
//! [`ClusterState::update_instance`], [`ClusterState::remove_instance`], and [`ClusterState::reserve`] for
//! placements in flight that a fresh view of an instance does not include yet). [`ClusterState::check`] answers
//! whether one task fits on one given instance (DAEMON services) without changing anything.
//!
//! ## Design
//!
//! A linear scan ([`reference::ReferenceState`]) costs O(instances) per task: 10,000 instances × 1,000,000
//! tasks is 10^10 instance checks. The engine instead keeps indexes that are updated incrementally, so one
//! placement costs O(classes × log instances) in the common case:
//!
//! - **Classes.** Schedulable instances (ACTIVE, agent connected) are grouped into classes of instances that
//!   no constraint, required attribute or spread field seen so far can tell apart: the same values of the
//!   *relevant* attributes (those some demand referred to), and the same agent version once an expression
//!   uses `agentVersion`. Required attributes and `memberOf` expressions are evaluated once per class and
//!   call, in three-valued logic: a class is out, in, or "depends on the instance" (expressions on
//!   `runningTasksCount`, `task:group`, `ec2InstanceId`, `registeredAt`), and only the last kind is evaluated
//!   per instance, during the search. 10,000 identical instances cost one check.
//! - **Ordered indexes per class.** Each class keeps treaps ordered by remaining memory, remaining CPU (or
//!   both, or neither), then a per-instance hash; every node also stores the maximum remaining CPU and memory
//!   of its subtree, so the search skips whole subtrees of instances that lack either resource (ephemeral
//!   storage is checked per instance during the search, like ports). Binpack is
//!   "the first instance at or after the task's demand"; an index is built the first time a strategy needs it.
//! - **Spread.** Spread over an attribute makes the attribute relevant, so a class has one bucket value, and
//!   per (group, attribute, value) task counts are maintained on every placement and release: the spread rank
//!   of a whole class is one hash lookup. Classes are visited in order of their leading spread ranks, and the
//!   visit stops once a class has produced a candidate and the rest rank worse. Spread over instances ranks
//!   instances without the group's tasks first: the index search skips the group's own instances, and only a
//!   class where every feasible instance already runs the group falls back to the group's instance set.
//! - **Groups.** Task groups are interned; each instance keeps sorted `(group, count)` pairs
//!   (`distinctInstance` is a binary search) and each group the set of its instances.
//! - **Ties.** After the strategies, ties go round a hash ring: each task draws a random point and the tied
//!   instance whose ARN hash comes first after it wins. That is random, indexable (one more range search) and
//!   reproducible from the RNG. A leading `random` (the RunTask default) is uniform over the feasible
//!   instances: rejection sampling over the candidate classes, then an exhaustive pass if that keeps failing.
//! - **Within a call.** Between two tasks of one `place` call only the chosen instance changes, so an
//!   instance found infeasible (or excluded by `distinctInstance`) stays so until the call ends. While more
//!   than 16 tasks of the call remain, such instances are parked: taken out of the indexes until the call
//!   ends, so each is skipped at most once per call and large calls stay O(log n) per task even when the
//!   group's own instances sit at the front of a binpack index. (Parking costs about as much as a few dozen
//!   skips, hence the threshold; the chosen instance is re-indexed anyway, so it is parked from two tasks on.)
//!
//! [`reference::ReferenceState`] implements the same semantics by brute force; a property test checks that
//! the engine picks exactly the reference's instance (for random choices: a feasible one) on random
//! clusters, demands and updates, and that resources, ports and constraints are never violated.
//!
//! ## Semantics chosen where ECS does not document them
//!
//! - Spread counts the group's non-stopped tasks on every instance in the state, whatever its status;
//!   instances lacking the attribute (or with no value) form one bucket of their own.
//! - `=~`/`!~` match the whole value (Java's `String.matches`), with a linear-time engine for the common
//!   Java regex subset; other operators compare exact text, versions in version order, `registeredAt` by day
//!   for a bare date and by second otherwise.
//! - Value operators on a missing attribute are false, including `!=`, `!in` and `!~`, as ECS's example
//!   `attribute:stack != prod` ("instances with the attribute stack unless its value is prod") requires.
//! - `task:group` holds when some task group on the instance satisfies the comparison.
//! - `distinctInstance` and `memberOf` failures are reported as `ATTRIBUTE`, with a `detail` naming the
//!   constraint; required attributes (`requiresAttributes`) too.
//! - When a task fits nowhere, the failures (one per instance) are reported once, not once per unplaced task.
//!
//! ## Limitations
//!
//! - Static host ports and `distinctInstance` are checked per instance during the search: a one-task call
//!   skips, one by one, the instances ahead in the index that hold the port or already run the group
//!   (bounded by the group's size and the port's users, not by the cluster's size).
//! - Expressions on instance-specific fields (`ec2InstanceId`, `registeredAt`, `runningTasksCount`,
//!   `task:group`) are evaluated per instance while searching, so a selective one costs up to the size of the
//!   classes it does not exclude.
//! - Classes multiply with the relevant attributes: referring to an attribute whose value is unique per
//!   instance (in a constraint or spread field) makes a class per instance, and placement O(instances).
//! - Spread over instances when every feasible instance of a class already runs the group scans the group's
//!   instances; so does a strategy chain with spread over instances after a binpack (it scans the binpack tie).
//! - Task groups are never forgotten; the per-group sets of a group with no tasks left are empty but stay.
//! - GPUs, ENIs (`awsvpc` attachment limits) and capacity providers are not modelled here.

pub mod constraint;
pub mod error;
pub mod expr;
pub mod model;
pub mod reference;
pub mod sim;
mod state;
pub mod strategy;

pub use constraint::{Constraint, parse_constraint, parse_constraints, validate_constraints};
pub use error::{ExprError, PlacementError, StateError};
pub use expr::{Expr, parse_expression};
pub use model::{Failure, FailureReason, Instance, InstanceStatus, Placement, Resources, TaskDemand};
pub use state::ClusterState;
pub use strategy::{
    BinpackField, Strategy, default_run_task_strategy, default_service_strategy, parse_strategies, parse_strategy,
    validate_strategies,
};

//! [`Elb`]: the service, its state, its change notification and the library calls other crates use.

use crate::ElbError;
use crate::config::ElbConfig;
use crate::health::TargetHealthSource;
use crate::state::State;
use crate::view::ElbView;
use berth_model::clock::Clock;
use berth_store::SharedStore;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use tokio::sync::watch;

/// Tells whether an `instance` target's id names a container instance (its `ec2InstanceId`).
pub trait InstanceDirectory: Send + Sync + 'static {
    /// Whether a registered container instance has this id.
    fn is_instance(&self, id: &str) -> bool;
}

/// Tells whether an ACM certificate exists (HTTPS listeners name their certificate by its ARN).
pub trait CertificateCatalog: Send + Sync + 'static {
    /// Whether a certificate with this ARN exists.
    fn exists(&self, certificate_arn: &str) -> bool;
}

/// What [`Elb::target_group_facts`] tells of a target group.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroupFacts {
    /// TargetGroupArn.
    pub arn: String,
    /// TargetType: `instance` or `ip`.
    pub target_type: String,
    /// The group's port.
    pub port: u16,
    /// The load balancers whose listeners or rules forward to it.
    pub load_balancers: Vec<String>,
    /// `deregistration_delay.timeout_seconds`.
    pub deregistration_delay: f64,
    /// Its targets that have not drained yet: id, port, and whether they are draining.
    pub targets: Vec<(String, u16, bool)>,
}

/// ELBv2 on one store.
pub struct Elb {
    pub(crate) store: SharedStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: ElbConfig,
    /// Serializes writes: each computes a new state from the current one and commits the difference.
    writes: tokio::sync::Mutex<()>,
    state: RwLock<Arc<State>>,
    generation: watch::Sender<u64>,
    health: RwLock<Option<Arc<dyn TargetHealthSource>>>,
    instances: RwLock<Option<Arc<dyn InstanceDirectory>>>,
    certificates: RwLock<Option<Arc<dyn CertificateCatalog>>>,
    /// The store revision the state reflects: of the load, or of this server's last commit (taken under `writes`).
    revision: AtomicI64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Elb {
    /// Loads every record from the store.
    pub async fn open(config: ElbConfig, store: SharedStore, clock: Arc<dyn Clock>) -> Result<Arc<Self>, ElbError> {
        let revision = store.revision();
        let state = State::load(&store).await?;
        Ok(Arc::new(Self {
            store,
            clock,
            config,
            writes: tokio::sync::Mutex::new(()),
            state: RwLock::new(Arc::new(state)),
            generation: watch::Sender::new(0),
            health: RwLock::new(None),
            instances: RwLock::new(None),
            certificates: RwLock::new(None),
            revision: AtomicI64::new(revision),
            tasks: Mutex::default(),
        }))
    }

    /// Follows the store: a change under `/elb/` that this service did not write (another server on the same
    /// store) reloads the state and bumps the generation.
    pub fn spawn_watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(follow(weak, self.store.clone()));
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }

    /// Calls an operation with its input as JSON (the shapes of `berth_model::elbv2`); its output as JSON.
    pub async fn call(&self, operation: &str, input: &[u8]) -> Result<Vec<u8>, ElbError> {
        crate::ops::dispatch(self, operation, input).await
    }

    /// Everything the data plane needs, as of now (draining targets past their delay left out).
    pub fn view(&self) -> ElbView {
        ElbView::new(&self.snapshot(), *self.generation.borrow(), self.clock.now())
    }

    /// A receiver of the generation number, bumped after every committed change: the data plane re-reads
    /// [`Elb::view`] when it changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Sets where target health comes from (the data plane's probes).
    pub fn set_health_source(&self, source: Arc<dyn TargetHealthSource>) {
        *self.health.write().unwrap_or_else(|p| p.into_inner()) = Some(source);
    }

    /// Sets how `instance` target ids are checked (without one, any id is accepted).
    pub fn set_instance_directory(&self, directory: Arc<dyn InstanceDirectory>) {
        *self.instances.write().unwrap_or_else(|p| p.into_inner()) = Some(directory);
    }

    /// Sets where HTTPS listeners' certificates are looked up (ACM). Without one, HTTPS listeners are refused.
    pub fn set_certificate_catalog(&self, catalog: Arc<dyn CertificateCatalog>) {
        *self.certificates.write().unwrap_or_else(|p| p.into_inner()) = Some(catalog);
    }

    /// The certificate catalog, if one is set.
    pub(crate) fn certificate_catalog(&self) -> Option<Arc<dyn CertificateCatalog>> {
        self.certificates.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The load balancers with a listener serving this certificate (ACM's InUseBy).
    pub fn certificate_users(&self, certificate_arn: &str) -> Vec<String> {
        let state = self.snapshot();
        let mut out: Vec<String> = state
            .listeners
            .values()
            .filter(|l| l.certificate_arn.as_deref() == Some(certificate_arn))
            .map(|l| l.load_balancer_arn.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Registers targets (`(id, port)`; port `None` for the target group's), as RegisterTargets does.
    pub async fn register_targets(
        &self,
        target_group_arn: &str,
        targets: &[(String, Option<u16>)],
    ) -> Result<(), ElbError> {
        let wire: Vec<berth_model::elbv2::TargetDescription> = targets
            .iter()
            .map(|(id, port)| berth_model::elbv2::TargetDescription {
                id: id.clone(),
                port: port.map(i32::from),
                ..Default::default()
            })
            .collect();
        crate::ops::targets::register(self, target_group_arn, &wire).await
    }

    /// Deregisters targets: they drain for the group's `deregistration_delay.timeout_seconds`.
    pub async fn deregister_targets(
        &self,
        target_group_arn: &str,
        targets: &[(String, Option<u16>)],
    ) -> Result<(), ElbError> {
        let wire: Vec<berth_model::elbv2::TargetDescription> = targets
            .iter()
            .map(|(id, port)| berth_model::elbv2::TargetDescription {
                id: id.clone(),
                port: port.map(i32::from),
                ..Default::default()
            })
            .collect();
        crate::ops::targets::deregister(self, target_group_arn, &wire).await
    }

    /// What the ECS service controller needs to know of a target group: `None` when there is none with this ARN.
    pub fn target_group_facts(&self, arn: &str) -> Option<TargetGroupFacts> {
        let state = self.snapshot();
        let now = self.clock.now();
        let tg = state.target_groups.get(arn)?;
        let delay = crate::attributes::get(
            crate::attributes::Of::TargetGroup,
            &tg.attributes,
            "deregistration_delay.timeout_seconds",
        )
        .parse()
        .unwrap_or(300.0);
        Some(TargetGroupFacts {
            arn: tg.arn.clone(),
            target_type: tg.target_type.clone(),
            port: tg.port,
            load_balancers: state.lbs_of_tg(arn).into_iter().collect(),
            deregistration_delay: delay,
            targets: tg
                .targets
                .iter()
                .filter(|t| t.draining_until.is_none_or(|u| u > now))
                .map(|t| (t.id.clone(), t.port, t.draining_until.is_some()))
                .collect(),
        })
    }

    /// A registered target's health as DescribeTargetHealth shows it; `None` when it is not registered (or has
    /// drained).
    pub fn target_health(&self, arn: &str, id: &str, port: u16) -> Option<berth_model::elbv2::TargetHealth> {
        let state = self.snapshot();
        let now = self.clock.now();
        let tg = state.target_groups.get(arn)?;
        let target =
            tg.targets.iter().find(|t| t.id == id && t.port == port && t.draining_until.is_none_or(|u| u > now))?;
        let in_use = !state.lbs_of_tg(arn).is_empty();
        let source = self.health_source();
        Some(crate::health::describe(tg, target, in_use, source.as_deref()))
    }

    /// The security groups of every load balancer (awsvpc tasks let in the traffic of the groups their ingress
    /// rules name).
    pub fn load_balancer_security_groups(&self) -> std::collections::BTreeSet<String> {
        self.snapshot().load_balancers.values().flat_map(|lb| lb.security_groups.iter().cloned()).collect()
    }

    /// The target groups and weights a listener rule forwards to (a listener's ARN, or its default rule's, stands
    /// for the default rule); empty when it does not forward, `None` when there is no such rule.
    pub fn rule_forward(&self, arn: &str) -> Option<Vec<(String, u32)>> {
        let state = self.snapshot();
        let actions = match state.rules.get(arn) {
            Some(rule) => &rule.actions,
            None => &state.listeners.get(arn).or_else(|| state.listener_of_default_rule(arn))?.default_actions,
        };
        let forward = actions.iter().rev().find_map(|a| match &a.kind {
            crate::actions::ActionKind::Forward { target_groups, .. } => {
                Some(target_groups.iter().map(|g| (g.arn.clone(), g.weight)).collect())
            }
            _ => None,
        });
        Some(forward.unwrap_or_default())
    }

    /// Makes a listener rule (or a listener's default rule) forward to exactly these target groups with these
    /// weights, keeping its group stickiness: its forward action is rewritten (a rule without one gets it in place
    /// of its terminal action). ECS's blue/green deployments shift traffic this way.
    pub async fn set_forward_weights(&self, arn: &str, weights: &[(String, u32)]) -> Result<(), ElbError> {
        use crate::actions::{Action, ActionKind, WeightedGroup};
        if weights.is_empty() || weights.len() > 5 || weights.iter().any(|(_, w)| *w > 999) {
            return Err(ElbError::validation("A forward action takes 1 to 5 target groups with weights 0 to 999"));
        }
        let groups: Vec<WeightedGroup> =
            weights.iter().map(|(g, w)| WeightedGroup { arn: g.clone(), weight: *w }).collect();
        let rewrite = |actions: &mut Vec<Action>| {
            let at = actions.iter().rposition(|a| matches!(a.kind, ActionKind::Forward { .. }));
            match at {
                Some(i) => {
                    if let ActionKind::Forward { target_groups, .. } = &mut actions[i].kind {
                        *target_groups = groups.clone();
                    }
                }
                None => {
                    let order = actions.last().and_then(|a| a.order);
                    actions.pop();
                    actions.push(Action {
                        order,
                        kind: ActionKind::Forward { target_groups: groups.clone(), stickiness: None },
                    });
                }
            }
        };
        self.update(|state, _| {
            for (g, _) in weights {
                state.tg(g)?;
            }
            if let Some(rule) = state.rules.get_mut(arn) {
                rewrite(&mut rule.actions);
                return Ok(());
            }
            let listener = match state.listeners.get(arn) {
                Some(l) => l.arn.clone(),
                None => state.listener_of_default_rule(arn).ok_or_else(ElbError::rule_not_found)?.arn.clone(),
            };
            if let Some(l) = state.listeners.get_mut(&listener) {
                rewrite(&mut l.default_actions);
            }
            Ok(())
        })
        .await
    }

    /// The address of the load balancer whose DNSName is `dns_name` (any case, with or without the final dot).
    pub fn address_of(&self, dns_name: &str) -> Option<std::net::Ipv4Addr> {
        let name = dns_name.trim_end_matches('.');
        self.snapshot().load_balancers.values().find(|lb| lb.dns_name.eq_ignore_ascii_case(name)).map(|lb| lb.address)
    }

    pub(crate) fn snapshot(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn health_source(&self) -> Option<Arc<dyn TargetHealthSource>> {
        self.health.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn instance_directory(&self) -> Option<Arc<dyn InstanceDirectory>> {
        self.instances.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs a change on a copy of the state and commits it: the store first, then the in-memory state and the
    /// generation. Nothing changes when `change` fails.
    pub(crate) async fn update<T>(
        &self,
        change: impl FnOnce(&mut State, f64) -> Result<T, ElbError>,
    ) -> Result<T, ElbError> {
        let _writes = self.writes.lock().await;
        let old = self.snapshot();
        let now = self.clock.now();
        let mut new = (*old).clone();
        new.expire_draining(now);
        let out = change(&mut new, now)?;
        let txn = new.diff(&old)?;
        if !txn.ops.is_empty() {
            if let berth_store::TxnOutcome::Committed { revision } = self.store.txn(txn).await? {
                self.revision.fetch_max(revision, Ordering::SeqCst);
            }
            *self.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
            self.generation.send_modify(|g| *g += 1);
        }
        Ok(out)
    }

    /// An ARN of this region and account.
    pub(crate) fn arn(&self, resource: &str) -> String {
        format!("arn:aws:elasticloadbalancing:{}:{}:{resource}", self.config.region, self.config.account_id)
    }
}

impl Drop for Elb {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }
}

/// Reloads the state after a change this service did not commit.
async fn reload_if_foreign(elb: &Elb, revision: i64, force: bool) -> Result<(), ElbError> {
    let _writes = elb.writes.lock().await;
    if !force && revision <= elb.revision.load(Ordering::SeqCst) {
        return Ok(());
    }
    let state = State::load(&elb.store).await?;
    elb.revision.fetch_max(revision, Ordering::SeqCst);
    if *elb.snapshot() != state {
        *elb.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(state);
        elb.generation.send_modify(|g| *g += 1);
    }
    Ok(())
}

/// The watch loop of [`Elb::spawn_watch`]: from the revision the state reflects; after a compaction, from now
/// with a full reload.
async fn follow(elb: Weak<Elb>, store: SharedStore) {
    let start = |elb: &Elb| elb.revision.load(Ordering::SeqCst);
    let Some(from) = elb.upgrade().map(|e| start(&e)) else { return };
    let mut watch = match store.watch(crate::records::PREFIX, from) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "elbv2: cannot watch the store; changes by other servers need a restart");
            return;
        }
    };
    loop {
        let next = watch.next().await;
        let Some(elb) = elb.upgrade() else { return };
        let (revision, force) = match next {
            Ok((revision, _)) => (revision, false),
            Err(berth_store::StoreError::Compacted { .. }) => {
                let now = store.revision();
                match store.watch(crate::records::PREFIX, now) {
                    Ok(w) => watch = w,
                    Err(_) => return,
                }
                (now, true)
            }
            Err(e) => {
                tracing::warn!(error = %e, "elbv2: the store watch ended");
                return;
            }
        };
        if let Err(e) = reload_if_foreign(&elb, revision, force).await {
            tracing::warn!(error = %e, "elbv2: reloading after another server's change failed");
        }
    }
}

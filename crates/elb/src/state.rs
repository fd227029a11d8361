//! [`State`]: every ELBv2 record, loaded from the store at start and replaced whole after each committed write,
//! with the lookups the operations share. A write is computed on a copy and committed as the difference.

use crate::ElbError;
use crate::records::{self, ListenerRecord, LoadBalancerRecord, RuleRecord, TargetGroupRecord};
use berth_store::{SharedStore, Txn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};

/// Every record, by ARN.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// Load balancers.
    pub load_balancers: BTreeMap<String, LoadBalancerRecord>,
    /// Listeners.
    pub listeners: BTreeMap<String, ListenerRecord>,
    /// Rules (not the default ones).
    pub rules: BTreeMap<String, RuleRecord>,
    /// Target groups.
    pub target_groups: BTreeMap<String, TargetGroupRecord>,
}

async fn load_kind<T: DeserializeOwned>(
    store: &SharedStore,
    kind: &str,
    arn: impl Fn(&T) -> String,
) -> Result<BTreeMap<String, T>, ElbError> {
    let range = store.range(&format!("{}{kind}/", records::PREFIX)).await?;
    let mut out = BTreeMap::new();
    for kv in range.kvs {
        match serde_json::from_slice::<T>(&kv.value) {
            Ok(record) => {
                out.insert(arn(&record), record);
            }
            Err(e) => tracing::error!(key = %kv.key, error = %e, "elbv2: unreadable record skipped"),
        }
    }
    Ok(out)
}

fn diff<T: Serialize + PartialEq>(
    txn: Txn,
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
    key: fn(&str) -> String,
) -> Result<Txn, ElbError> {
    let mut txn = txn;
    for (arn, record) in new {
        if old.get(arn) != Some(record) {
            txn = txn.put(key(arn), serde_json::to_vec(record)?);
        }
    }
    for arn in old.keys().filter(|a| !new.contains_key(*a)) {
        txn = txn.delete(key(arn));
    }
    Ok(txn)
}

impl State {
    /// Reads every record under `/elb/`.
    pub async fn load(store: &SharedStore) -> Result<Self, ElbError> {
        Ok(Self {
            load_balancers: load_kind(store, "lb", |r: &LoadBalancerRecord| r.arn.clone()).await?,
            listeners: load_kind(store, "listener", |r: &ListenerRecord| r.arn.clone()).await?,
            rules: load_kind(store, "rule", |r: &RuleRecord| r.arn.clone()).await?,
            target_groups: load_kind(store, "tg", |r: &TargetGroupRecord| r.arn.clone()).await?,
        })
    }

    /// The transaction that turns `old` into `self` in the store.
    pub fn diff(&self, old: &State) -> Result<Txn, ElbError> {
        let txn = diff(Txn::new(), &old.load_balancers, &self.load_balancers, records::lb_key)?;
        let txn = diff(txn, &old.listeners, &self.listeners, records::listener_key)?;
        let txn = diff(txn, &old.rules, &self.rules, records::rule_key)?;
        diff(txn, &old.target_groups, &self.target_groups, records::tg_key)
    }

    /// A load balancer by ARN, or LoadBalancerNotFound.
    pub fn lb(&self, arn: &str) -> Result<&LoadBalancerRecord, ElbError> {
        self.load_balancers.get(arn).ok_or_else(ElbError::lb_not_found)
    }

    /// A target group by ARN, or TargetGroupNotFound.
    pub fn tg(&self, arn: &str) -> Result<&TargetGroupRecord, ElbError> {
        self.target_groups.get(arn).ok_or_else(ElbError::tg_not_found)
    }

    /// A listener by ARN, or ListenerNotFound.
    pub fn listener(&self, arn: &str) -> Result<&ListenerRecord, ElbError> {
        self.listeners.get(arn).ok_or_else(ElbError::listener_not_found)
    }

    /// The listeners of a load balancer, by port.
    pub fn listeners_of(&self, lb_arn: &str) -> Vec<&ListenerRecord> {
        let mut out: Vec<&ListenerRecord> = self.listeners.values().filter(|l| l.load_balancer_arn == lb_arn).collect();
        out.sort_by_key(|l| l.port);
        out
    }

    /// The rules of a listener, by priority (the default rule is not among them).
    pub fn rules_of(&self, listener_arn: &str) -> Vec<&RuleRecord> {
        let mut out: Vec<&RuleRecord> = self.rules.values().filter(|r| r.listener_arn == listener_arn).collect();
        out.sort_by_key(|r| r.priority);
        out
    }

    /// The listener whose default rule has this ARN.
    pub fn listener_of_default_rule(&self, rule_arn: &str) -> Option<&ListenerRecord> {
        self.listeners.values().find(|l| l.default_rule_arn == rule_arn)
    }

    /// The load balancers whose listeners or rules forward to a target group.
    pub fn lbs_of_tg(&self, tg_arn: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for l in self.listeners.values() {
            if l.default_actions.iter().any(|a| a.target_groups().contains(&tg_arn)) {
                out.insert(l.load_balancer_arn.clone());
            }
        }
        for r in self.rules.values() {
            if r.actions.iter().any(|a| a.target_groups().contains(&tg_arn))
                && let Some(l) = self.listeners.get(&r.listener_arn)
            {
                out.insert(l.load_balancer_arn.clone());
            }
        }
        out
    }

    /// Checks that the target groups of new actions for a listener of `lb_arn` are not used by another load
    /// balancer (an application load balancer's target group serves one load balancer).
    pub fn check_association(&self, lb_arn: &str, actions: &[crate::actions::Action]) -> Result<(), ElbError> {
        for a in actions {
            for tg in a.target_groups() {
                if self.lbs_of_tg(tg).iter().any(|other| other != lb_arn) {
                    return Err(ElbError::new(
                        "TargetGroupAssociationLimit",
                        format!(
                            "The following target groups cannot be associated with more than one load balancer: {tg}"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Drops draining targets whose deregistration delay has ended.
    pub fn expire_draining(&mut self, now: f64) {
        for tg in self.target_groups.values_mut() {
            tg.targets.retain(|t| t.draining_until.is_none_or(|until| until > now));
        }
    }
}

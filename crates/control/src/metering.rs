//! Metering: what each task used of its reserved size, by Fargate's rule, kept after the task record is forgotten.
//!
//! A task is metered from the start of its image pull (`pullStartedAt`; its start when it pulled nothing) to the
//! moment its containers had stopped (`executionStoppedAt`, else `stoppedAt`), rounded up to the second, with a
//! one-minute minimum (Fargate's billing rule). It is charged its reserved size: vCPU (`cpu` units / 1024), memory
//! in GB (MiB / 1024) and ephemeral storage above the 20 GB Fargate includes. A task that never started pulling
//! (stopped while PROVISIONING) uses nothing.
//!
//! Usage records are written when the liveness controller forgets a stopped task (an hour after it stopped), in the
//! same transaction as the deletion, under `/usage/<day it stopped>/<cluster>/<task id>`; until then the task
//! record itself is read. So a task is counted exactly once, from its record while it exists and from its usage
//! record after. A query for a window counts the part of each task's metered interval inside the window.

use crate::records::{StoredTag, TaskRecord};
use crate::{Control, ControlError, Result};
use berth_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The store prefix of usage records.
pub const USAGE_PREFIX: &str = "/usage/";

/// The ephemeral storage Fargate includes in a task's price, in GB.
pub const INCLUDED_STORAGE_GB: f64 = 20.0;

/// The shortest metered time, in seconds (Fargate's one-minute minimum).
pub const MINIMUM_SECONDS: f64 = 60.0;

/// The most days a windowed query reads usage records of (about ten years).
const MAX_DAYS: i64 = 3660;

/// What one task used, kept after its task record is forgotten.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageRecord {
    /// The task's ARN.
    pub task_arn: String,
    /// Its cluster's short name.
    pub cluster: String,
    /// Its service's name, for a service's task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Its task definition family.
    pub family: String,
    /// Its launch type (`EC2`, `FARGATE`, `EXTERNAL`).
    pub launch_type: String,
    /// Its capacity provider, when it ran on one (`FARGATE`, `FARGATE_SPOT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider: Option<String>,
    /// Its reserved CPU units.
    pub cpu_units: i64,
    /// Its reserved memory in MiB.
    pub memory_mib: i64,
    /// Its ephemeral storage in GiB (Fargate tasks; 0 otherwise).
    #[serde(default)]
    pub ephemeral_storage_gib: i32,
    /// When metering started (its image pull began).
    pub start: Timestamp,
    /// When metering ended (its containers had stopped).
    pub end: Timestamp,
    /// Its tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<StoredTag>,
}

impl UsageRecord {
    /// The usage of a task record, up to `now` while it runs; `None` for a task that never started pulling.
    pub fn of_task(task: &TaskRecord, now: Timestamp) -> Option<Self> {
        let start = task.pull_started_at.or(task.started_at)?;
        let stopped = task.last_status == crate::status::TaskStatus::Stopped;
        let end = if stopped { task.execution_stopped_at.or(task.stopped_at).unwrap_or(now) } else { now };
        let family = task
            .task_definition_arn
            .rsplit_once(":task-definition/")
            .map(|(_, rest)| rest.rsplit_once(':').map_or(rest, |(family, _)| family))
            .unwrap_or(&task.task_definition_arn)
            .to_string();
        Some(Self {
            task_arn: task.arn.clone(),
            cluster: task.cluster.clone(),
            service: task.group.as_deref().and_then(|g| g.strip_prefix("service:")).map(str::to_string),
            family,
            launch_type: task.launch_type.map_or("EC2", |l| l.as_str()).to_string(),
            capacity_provider: task.capacity_provider_name.clone(),
            cpu_units: task.reservation.cpu,
            memory_mib: task.reservation.memory,
            ephemeral_storage_gib: task.ephemeral_storage_gib.unwrap_or(0),
            start,
            end: end.max(start),
            tags: task.tags.clone(),
        })
    }

    /// The metered seconds: its run rounded up to the second, at least a minute.
    pub fn metered_seconds(&self) -> f64 {
        (self.end - self.start).ceil().max(MINIMUM_SECONDS)
    }

    /// The metered seconds inside `[since, until)` (either open): the part of `[start, start + metered)` there.
    pub fn seconds_within(&self, since: Option<Timestamp>, until: Option<Timestamp>) -> f64 {
        let from = since.map_or(self.start, |s| s.max(self.start));
        let to = until.map_or(self.start + self.metered_seconds(), |u| u.min(self.start + self.metered_seconds()));
        (to - from).max(0.0)
    }

    /// vCPU, memory GB and billable ephemeral storage GB (above the included 20 GB) reserved.
    pub fn size(&self) -> (f64, f64, f64) {
        let storage = if self.launch_type == "FARGATE" {
            (f64::from(self.ephemeral_storage_gib) - INCLUDED_STORAGE_GB).max(0.0)
        } else {
            0.0
        };
        (self.cpu_units as f64 / 1024.0, self.memory_mib as f64 / 1024.0, storage)
    }

    /// The value of a grouping dimension for this task (`-` when it has none).
    pub fn dimension(&self, dimension: &GroupBy) -> String {
        let or_dash = |v: Option<&str>| v.filter(|v| !v.is_empty()).unwrap_or("-").to_string();
        match dimension {
            GroupBy::Cluster => self.cluster.clone(),
            GroupBy::Service => or_dash(self.service.as_deref()),
            GroupBy::Family => self.family.clone(),
            GroupBy::CapacityProvider => or_dash(self.capacity_provider.as_deref()),
            GroupBy::LaunchType => self.launch_type.clone(),
            GroupBy::Task => self.task_arn.clone(),
            GroupBy::Tag(key) => or_dash(self.tags.iter().find(|t| &t.key == key).and_then(|t| t.value.as_deref())),
        }
    }

    /// The rate card entry that prices it: its capacity provider's, else its launch type's.
    pub fn rate_key(&self) -> &str {
        self.capacity_provider.as_deref().unwrap_or(&self.launch_type)
    }
}

/// A dimension usage is summed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupBy {
    /// The cluster.
    Cluster,
    /// The service (`-` for tasks of no service).
    Service,
    /// The task definition family.
    Family,
    /// The capacity provider (`-` for tasks launched by launch type on EC2).
    CapacityProvider,
    /// The launch type.
    LaunchType,
    /// Each task on its own.
    Task,
    /// The value of a tag (`-` for tasks without it).
    Tag(String),
}

impl GroupBy {
    /// Parses `cluster`, `service`, `family`, `capacity-provider`, `launch-type`, `task` or `tag:KEY`.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "cluster" => Self::Cluster,
            "service" => Self::Service,
            "family" => Self::Family,
            "capacity-provider" | "capacityProvider" => Self::CapacityProvider,
            "launch-type" | "launchType" => Self::LaunchType,
            "task" => Self::Task,
            other => match other.strip_prefix("tag:") {
                Some(key) if !key.is_empty() => Self::Tag(key.to_string()),
                _ => {
                    return Err(ControlError::invalid(format!(
                        "Cannot group usage by '{other}': use cluster, service, family, capacity-provider, \
                         launch-type, task or tag:KEY."
                    )));
                }
            },
        })
    }

    /// Its name as [`GroupBy::parse`] takes it.
    pub fn name(&self) -> String {
        match self {
            Self::Cluster => "cluster".into(),
            Self::Service => "service".into(),
            Self::Family => "family".into(),
            Self::CapacityProvider => "capacity-provider".into(),
            Self::LaunchType => "launch-type".into(),
            Self::Task => "task".into(),
            Self::Tag(key) => format!("tag:{key}"),
        }
    }
}

/// Prices per hour of one capacity provider or launch type.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rates {
    /// Per vCPU-hour.
    pub vcpu_hour: f64,
    /// Per GB-hour of memory.
    pub gb_hour: f64,
    /// Per GB-hour of ephemeral storage above the included 20 GB.
    #[serde(default)]
    pub storage_gb_hour: f64,
}

/// The prices usage is costed at, set by the operator (`berth server --rate-card FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateCard {
    /// The currency of the prices.
    pub currency: String,
    /// Where the prices come from and as of when.
    pub source: String,
    /// Prices by capacity provider (`FARGATE`, `FARGATE_SPOT`) or launch type (`EC2`, `EXTERNAL`); usage of anything
    /// not named is costed at zero.
    pub rates: BTreeMap<String, Rates>,
}

impl Default for RateCard {
    /// Fargate's published us-east-1 Linux/X86 prices: $0.04048 per vCPU-hour, $0.004445 per GB-hour and
    /// $0.000111 per GB-hour of ephemeral storage above 20 GB (on-demand, as published since the price cut of
    /// 2019-01-07 and, for storage, since 2021-04). Spot prices move with spare capacity; the default is 70% off
    /// on-demand, Fargate Spot's advertised discount. EC2 and EXTERNAL tasks cost nothing here: their hosts are paid
    /// for, not their tasks.
    fn default() -> Self {
        let on_demand = Rates { vcpu_hour: 0.04048, gb_hour: 0.004445, storage_gb_hour: 0.000111 };
        let spot = Rates {
            vcpu_hour: on_demand.vcpu_hour * 0.3,
            gb_hour: on_demand.gb_hour * 0.3,
            storage_gb_hour: on_demand.storage_gb_hour,
        };
        Self {
            currency: "USD".into(),
            source: "AWS Fargate us-east-1 Linux/X86 on-demand prices (unchanged since 2019-01-07; ephemeral storage \
                     since 2021-04); FARGATE_SPOT at 70% off on-demand (an estimate: Spot prices vary)"
                .into(),
            rates: BTreeMap::from([("FARGATE".to_string(), on_demand), ("FARGATE_SPOT".to_string(), spot)]),
        }
    }
}

impl RateCard {
    /// Reads a rate card from JSON (the shape [`RateCard`] serializes to), checking the prices are finite and not
    /// negative.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let card: Self = serde_json::from_str(text).map_err(|e| format!("the rate card is not valid: {e}"))?;
        for (name, rates) in &card.rates {
            for price in [rates.vcpu_hour, rates.gb_hour, rates.storage_gb_hour] {
                if !price.is_finite() || price < 0.0 {
                    return Err(format!("the rate card's prices for {name} must be finite and not negative"));
                }
            }
        }
        Ok(card)
    }
}

/// A window and the dimensions to sum usage by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageQuery {
    /// Usage from this time (the beginning when absent).
    pub since: Option<Timestamp>,
    /// Usage until this time (now when absent).
    pub until: Option<Timestamp>,
    /// The dimensions (none: one total).
    pub group_by: Vec<GroupBy>,
}

/// The usage of one group of tasks in a window.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageGroup {
    /// The group's value of each dimension, by dimension name.
    pub keys: BTreeMap<String, String>,
    /// How many tasks used anything in the window.
    pub tasks: u64,
    /// vCPU-seconds.
    pub vcpu_seconds: f64,
    /// GB-seconds of memory.
    pub gb_seconds: f64,
    /// GB-seconds of ephemeral storage above the included 20 GB.
    pub storage_gb_seconds: f64,
    /// The cost at the rate card's prices.
    pub cost: f64,
}

/// Sums usage records into groups, costed with `card`: groups in the order of their keys.
pub fn summarize(records: &[UsageRecord], query: &UsageQuery, card: &RateCard) -> Vec<UsageGroup> {
    let mut groups: BTreeMap<Vec<String>, UsageGroup> = BTreeMap::new();
    for record in records {
        let seconds = record.seconds_within(query.since, query.until);
        if seconds <= 0.0 {
            continue;
        }
        let values: Vec<String> = query.group_by.iter().map(|d| record.dimension(d)).collect();
        let group = groups.entry(values.clone()).or_insert_with(|| UsageGroup {
            keys: query.group_by.iter().map(GroupBy::name).zip(values).collect(),
            ..UsageGroup::default()
        });
        let (vcpu, gb, storage) = record.size();
        let rates = card.rates.get(record.rate_key()).copied().unwrap_or_default();
        group.tasks += 1;
        group.vcpu_seconds += vcpu * seconds;
        group.gb_seconds += gb * seconds;
        group.storage_gb_seconds += storage * seconds;
        group.cost +=
            (vcpu * rates.vcpu_hour + gb * rates.gb_hour + storage * rates.storage_gb_hour) * seconds / 3600.0;
    }
    groups.into_values().collect()
}

/// The usage record's store key: by the day (UTC) its task stopped, so a window's records are read by day.
pub fn usage_key(record: &UsageRecord) -> String {
    let id = record.task_arn.rsplit('/').next().unwrap_or(&record.task_arn);
    format!("{USAGE_PREFIX}{}/{}/{id}", day(record.end), record.cluster)
}

/// Days since the Unix epoch, zero-padded so keys sort by day.
fn day(at: Timestamp) -> String {
    format!("{:06}", (at / 86_400.0).floor().max(0.0) as i64)
}

impl Control {
    /// The usage records of tasks already forgotten that may fall in the window, and the usage of every task record
    /// still kept (running ones up to now).
    pub async fn usage_records(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>> {
        let now = self.now();
        let mut records: Vec<UsageRecord> = {
            let state = self.cache.read();
            state.tasks.values().filter_map(|v| UsageRecord::of_task(&v.record, now)).collect()
        };
        // A record is keyed by the day its task stopped; a task overlapping the window stopped on or after the
        // window's first day.
        let prefixes: Vec<String> = match query.since {
            Some(since) => {
                let first = (since / 86_400.0).floor().max(0.0) as i64;
                let last = (now / 86_400.0).floor().max(0.0) as i64;
                let first = first.max(last - MAX_DAYS);
                (first..=last).map(|d| format!("{USAGE_PREFIX}{d:06}/")).collect()
            }
            None => vec![USAGE_PREFIX.to_string()],
        };
        for prefix in prefixes {
            let range = self.store.range(&prefix).await.map_err(ControlError::store("reading usage records"))?;
            for kv in range.kvs {
                match serde_json::from_slice::<UsageRecord>(&kv.value) {
                    Ok(record) => records.push(record),
                    Err(error) => tracing::warn!(key = %kv.key, %error, "a usage record does not decode; skipped"),
                }
            }
        }
        Ok(records)
    }

    /// The usage in a window, summed by the query's dimensions and costed with `card`.
    pub async fn usage(&self, query: &UsageQuery, card: &RateCard) -> Result<Vec<UsageGroup>> {
        if let (Some(since), Some(until)) = (query.since, query.until)
            && since >= until
        {
            return Err(ControlError::invalid("The usage window's start must be before its end."));
        }
        let records = self.usage_records(query).await?;
        Ok(summarize(&records, query, card))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(start: f64, end: f64) -> UsageRecord {
        UsageRecord {
            task_arn: "arn:aws:ecs:us-east-1:1:task/c/abc".into(),
            cluster: "c".into(),
            service: Some("web".into()),
            family: "web".into(),
            launch_type: "FARGATE".into(),
            capacity_provider: Some("FARGATE".into()),
            cpu_units: 512,
            memory_mib: 1024,
            ephemeral_storage_gib: 30,
            start,
            end,
            tags: vec![StoredTag { key: "team".into(), value: Some("a".into()) }],
        }
    }

    #[test]
    fn a_task_is_metered_to_the_second_with_a_one_minute_minimum() {
        assert_eq!(record(0.0, 10.0).metered_seconds(), 60.0);
        assert_eq!(record(0.0, 90.2).metered_seconds(), 91.0);
        assert_eq!(record(0.0, 60.0).metered_seconds(), 60.0);
    }

    #[test]
    fn a_window_counts_the_part_of_the_metered_time_inside_it() {
        let r = record(100.0, 400.0);
        assert_eq!(r.seconds_within(None, None), 300.0);
        assert_eq!(r.seconds_within(Some(200.0), None), 200.0);
        assert_eq!(r.seconds_within(Some(200.0), Some(250.0)), 50.0);
        assert_eq!(r.seconds_within(Some(500.0), None), 0.0);
        assert_eq!(r.seconds_within(None, Some(50.0)), 0.0);
        // The minimum minute is counted from the start.
        assert_eq!(record(100.0, 110.0).seconds_within(Some(150.0), None), 10.0);
    }

    #[test]
    fn sizes_charge_storage_above_twenty_gb_on_fargate_only() {
        assert_eq!(record(0.0, 1.0).size(), (0.5, 1.0, 10.0));
        let mut ec2 = record(0.0, 1.0);
        ec2.launch_type = "EC2".into();
        assert_eq!(ec2.size().2, 0.0);
    }

    #[test]
    fn usage_sums_by_dimension_and_costs_at_the_rate_card() {
        let mut spot = record(0.0, 3600.0);
        spot.capacity_provider = Some("FARGATE_SPOT".into());
        spot.service = None;
        let records = vec![record(0.0, 3600.0), record(0.0, 1800.0), spot];
        let query = UsageQuery { since: None, until: None, group_by: vec![GroupBy::CapacityProvider] };
        let card = RateCard::default();
        let groups = summarize(&records, &query, &card);
        assert_eq!(groups.len(), 2);
        let on_demand = &groups[0];
        assert_eq!(on_demand.keys["capacity-provider"], "FARGATE");
        assert_eq!((on_demand.tasks, on_demand.vcpu_seconds, on_demand.gb_seconds), (2, 2700.0, 5400.0));
        assert_eq!(on_demand.storage_gb_seconds, 54_000.0);
        let expected = 0.5 * 1.5 * 0.04048 + 1.5 * 0.004445 + 10.0 * 1.5 * 0.000111;
        assert!((on_demand.cost - expected).abs() < 1e-9, "{} vs {expected}", on_demand.cost);
        assert_eq!(groups[1].keys["capacity-provider"], "FARGATE_SPOT");
        let by_service = summarize(&records, &UsageQuery { group_by: vec![GroupBy::Service], ..query }, &card);
        assert_eq!(by_service.iter().map(|g| g.keys["service"].as_str()).collect::<Vec<_>>(), ["-", "web"]);
        let by_tag = summarize(
            &records,
            &UsageQuery { group_by: vec![GroupBy::Tag("team".into())], ..Default::default() },
            &card,
        );
        assert_eq!((by_tag.len(), by_tag[0].tasks), (1, 3));
    }

    #[test]
    fn group_names_parse_and_unknown_ones_are_refused() {
        for name in ["cluster", "service", "family", "capacity-provider", "launch-type", "task", "tag:team"] {
            assert_eq!(GroupBy::parse(name).unwrap().name(), name);
        }
        assert!(GroupBy::parse("colour").is_err());
        assert!(GroupBy::parse("tag:").is_err());
    }

    #[test]
    fn a_rate_card_refuses_negative_prices_and_unknown_members() {
        let card = RateCard::default();
        let text = serde_json::to_string(&card).unwrap();
        assert_eq!(RateCard::from_json(&text).unwrap(), card);
        assert!(
            RateCard::from_json(r#"{"currency":"USD","source":"x","rates":{"FARGATE":{"vcpuHour":-1,"gbHour":0}}}"#)
                .is_err()
        );
        assert!(RateCard::from_json(r#"{"currency":"USD","source":"x","rates":{},"extra":1}"#).is_err());
    }

    #[test]
    fn usage_keys_sort_by_the_day_the_task_stopped() {
        assert_eq!(usage_key(&record(0.0, 86_400.0 * 3.5)), "/usage/000003/c/abc");
    }
}

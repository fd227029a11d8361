//! The stored cluster (schema 2): Berth's own fields, rendered to the wire `Cluster` by `clusters.rs`.
//!
//! Schema 1 wrapped the wire `Cluster` (`{"cluster": {...}, "createdAt": ...}`); [`upgrade_from_v1`] turns such a
//! value into this shape. Counters (`runningTasksCount` ...) and `statistics` were never the truth; they are
//! computed from the cache when a cluster is described, and are not stored.

use super::StoredTag;
use super::upgrade::{carry, object, or, required, status};
use crate::status::ClusterStatus;
use berth_model::Timestamp;
use berth_model::ecs::{CapacityProviderStrategyItem, ClusterConfiguration, ClusterSetting, ClusterSettingName};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRecord {
    /// The cluster's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// `ACTIVE`, or `INACTIVE` once deleted.
    pub status: ClusterStatus,
    /// Its settings (containerInsights).
    pub settings: Vec<ClusterSettingRecord>,
    /// The execute-command and managed-storage configuration, as the user gave it (a user document, kept in its
    /// wire form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<ClusterConfiguration>,
    /// The capacity providers it names.
    pub capacity_providers: Vec<String>,
    /// Its default capacity provider strategy.
    pub default_capacity_provider_strategy: Vec<StrategyItem>,
    /// The Cloud Map namespace of its Service Connect defaults, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_namespace: Option<String>,
    /// Its tags.
    pub tags: Vec<StoredTag>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A cluster setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSettingRecord {
    /// The setting's name as ECS writes it (`containerInsights`).
    pub name: String,
    /// Its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One entry of a capacity provider strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategyItem {
    /// The capacity provider's name.
    pub capacity_provider: String,
    /// Its relative weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// How many tasks it runs at least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<i32>,
}

impl ClusterRecord {
    /// The cluster's `status`.
    pub fn status(&self) -> Option<ClusterStatus> {
        Some(self.status)
    }

    /// Sets the cluster's `status`.
    pub fn set_status(&mut self, status: ClusterStatus) {
        self.status = status;
    }
}

impl ClusterSettingRecord {
    /// The setting as stored, from its wire form (`None` for a setting without a name, which validation refuses).
    pub fn from_wire(setting: &ClusterSetting) -> Option<Self> {
        Some(Self { name: setting.name?.as_str().to_string(), value: setting.value.clone() })
    }

    /// The setting's wire form (a name this build's model does not know shows without a name).
    pub fn to_wire(&self) -> ClusterSetting {
        ClusterSetting { name: ClusterSettingName::parse(&self.name), value: self.value.clone() }
    }
}

impl StrategyItem {
    /// The item as stored, from its wire form.
    pub fn from_wire(item: &CapacityProviderStrategyItem) -> Self {
        Self { capacity_provider: item.capacity_provider.clone(), weight: item.weight, base: item.base }
    }

    /// The item's wire form.
    pub fn to_wire(&self) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem {
            capacity_provider: self.capacity_provider.clone(),
            weight: self.weight,
            base: self.base,
        }
    }
}

/// Turns a schema-1 cluster value (the wire `Cluster` under `cluster`, plus `createdAt`) into schema 2.
pub(crate) fn upgrade_from_v1(value: Value) -> Result<Value, String> {
    const WHAT: &str = "a schema-1 cluster record";
    let mut outer = object(value, WHAT)?;
    let mut cluster = object(required(&mut outer, "cluster", WHAT)?, WHAT)?;
    let mut v2 = Map::new();
    v2.insert("name".into(), required(&mut cluster, "clusterName", WHAT)?);
    v2.insert("arn".into(), required(&mut cluster, "clusterArn", WHAT)?);
    let text = required(&mut cluster, "status", WHAT)?;
    v2.insert("status".into(), status(text, "status", |s| ClusterStatus::parse(s).is_some(), WHAT)?);
    v2.insert("settings".into(), or(&mut cluster, "settings", Value::Array(Vec::new())));
    carry(&mut cluster, "configuration", &mut v2, "configuration");
    v2.insert("capacityProviders".into(), or(&mut cluster, "capacityProviders", Value::Array(Vec::new())));
    v2.insert(
        "defaultCapacityProviderStrategy".into(),
        or(&mut cluster, "defaultCapacityProviderStrategy", Value::Array(Vec::new())),
    );
    if let Some(Value::Object(mut defaults)) = cluster.remove("serviceConnectDefaults") {
        carry(&mut defaults, "namespace", &mut v2, "serviceConnectNamespace");
    }
    v2.insert("tags".into(), or(&mut cluster, "tags", Value::Array(Vec::new())));
    v2.insert("createdAt".into(), required(&mut outer, "createdAt", WHAT)?);
    Ok(Value::Object(v2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_v1_value_becomes_a_v2_value_without_its_counters() {
        let v1 = json!({
            "schema": 1,
            "cluster": {
                "activeServicesCount": 3,
                "capacityProviders": ["FARGATE"],
                "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/web",
                "clusterName": "web",
                "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
                "runningTasksCount": 7,
                "serviceConnectDefaults": {"namespace": "arn:ns"},
                "settings": [{"name": "containerInsights", "value": "enabled"}],
                "status": "INACTIVE",
                "tags": [{"key": "team", "value": "web"}]
            },
            "createdAt": 1.5
        });
        let v2 = upgrade_from_v1(v1).unwrap();
        assert_eq!(
            v2,
            json!({
                "name": "web",
                "arn": "arn:aws:ecs:us-east-1:000000000000:cluster/web",
                "status": "INACTIVE",
                "settings": [{"name": "containerInsights", "value": "enabled"}],
                "capacityProviders": ["FARGATE"],
                "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
                "serviceConnectNamespace": "arn:ns",
                "tags": [{"key": "team", "value": "web"}],
                "createdAt": 1.5
            })
        );
        let record: ClusterRecord = serde_json::from_value(v2).unwrap();
        assert_eq!(record.status, ClusterStatus::Inactive);
    }

    #[test]
    fn a_v1_value_without_a_name_or_with_an_unknown_status_is_refused() {
        let nameless = json!({"cluster": {"clusterArn": "a", "status": "ACTIVE"}, "createdAt": 1.0});
        assert!(upgrade_from_v1(nameless).unwrap_err().contains("clusterName"));
        let odd = json!({"cluster": {"clusterArn": "a", "clusterName": "a", "status": "ODD"}, "createdAt": 1.0});
        assert!(upgrade_from_v1(odd).unwrap_err().contains("unknown `status`"));
        assert!(upgrade_from_v1(json!([1])).is_err());
    }
}

//! The stored record of an Express service and its wire form.

use super::ExpressIngress;
use berth_model::ecs::{
    ECSExpressGatewayService, ExpressGatewayServiceConfiguration, ExpressGatewayServiceStatus,
    ExpressGatewayServiceStatusCode, Tag,
};
use serde::{Deserialize, Serialize};

/// Where Express records live (outside `/ecs/`: the cache does not hold them; the four operations read the store).
pub const PREFIX: &str = "/ecs-express/";

/// The key of an Express service's record.
pub fn key(cluster: &str, service: &str) -> String {
    format!("{PREFIX}{cluster}/{service}")
}

/// The resources made in front of the service, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressRecord {
    /// The load balancer's ARN.
    pub load_balancer_arn: String,
    /// The target group's ARN.
    pub target_group_arn: String,
    /// The listener's ARN.
    pub listener_arn: String,
    /// The URL.
    pub endpoint: String,
}

impl From<ExpressIngress> for IngressRecord {
    fn from(i: ExpressIngress) -> Self {
        Self {
            load_balancer_arn: i.load_balancer_arn,
            target_group_arn: i.target_group_arn,
            listener_arn: i.listener_arn,
            endpoint: i.endpoint,
        }
    }
}

impl From<IngressRecord> for ExpressIngress {
    fn from(i: IngressRecord) -> Self {
        Self {
            load_balancer_arn: i.load_balancer_arn,
            target_group_arn: i.target_group_arn,
            listener_arn: i.listener_arn,
            endpoint: i.endpoint,
        }
    }
}

/// An Express service: its configuration (defaults filled in; the wire shape, which Berth stores as is) and what
/// was made for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExpressServiceRecord {
    /// The cluster's name.
    pub cluster: String,
    /// The service's name.
    pub service_name: String,
    /// The service's ARN.
    pub service_arn: String,
    /// The infrastructure role the caller named.
    pub infrastructure_role_arn: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    /// The configuration in effect.
    pub configuration: ExpressGatewayServiceConfiguration,
    /// The load balancer, target group and listener.
    pub ingress: IngressRecord,
    /// The tags given at creation.
    pub tags: Vec<Tag>,
    /// When it was created.
    pub created_at: f64,
    /// When it last changed.
    pub updated_at: f64,
}

impl ExpressServiceRecord {
    /// The wire form; tags only when asked for.
    pub fn render(&self, with_tags: bool) -> ECSExpressGatewayService {
        let code = match self.status.as_str() {
            "INACTIVE" => ExpressGatewayServiceStatusCode::Inactive,
            "DRAINING" => ExpressGatewayServiceStatusCode::Draining,
            _ => ExpressGatewayServiceStatusCode::Active,
        };
        let cluster_arn = self.service_arn.split(":service/").next().map(|p| format!("{p}:cluster/{}", self.cluster));
        ECSExpressGatewayService {
            cluster: cluster_arn,
            service_name: Some(self.service_name.clone()),
            service_arn: Some(self.service_arn.clone()),
            infrastructure_role_arn: Some(self.infrastructure_role_arn.clone()),
            status: Some(ExpressGatewayServiceStatus { status_code: Some(code), status_reason: None }),
            current_deployment: self.configuration.service_revision_arn.clone(),
            active_configurations: (code != ExpressGatewayServiceStatusCode::Inactive)
                .then(|| vec![self.configuration.clone()]),
            tags: with_tags.then(|| self.tags.clone()),
            created_at: Some(self.created_at),
            updated_at: Some(self.updated_at),
        }
    }
}
